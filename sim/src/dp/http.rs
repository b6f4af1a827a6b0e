//! `http-proxy`: HTTP/1.1 clients -> Sluice (HTTP mode) -> servers.

use sluice_core::rng::Rng;
use sluice_core::time::Time;

use super::{DpSpec, ServerSpec};
use crate::world::World;

/// How a server answers HTTP (percentages).
#[derive(Clone, Debug, Default)]
pub struct ServerHttp {}

impl ServerHttp {
    pub fn draw(_rng: &mut Rng, _misbehave: bool) -> ServerHttp {
        ServerHttp {}
    }
}

#[derive(Clone, Debug)]
pub struct HttpPlan {}

#[derive(Debug)]
pub struct HttpClient {}

impl HttpClient {
    pub fn new(_p: &HttpPlan) -> HttpClient {
        HttpClient {}
    }
}

#[derive(Debug)]
pub struct HttpSrv {}

impl HttpSrv {
    pub fn new(_rng: &mut Rng, _spec: &ServerSpec) -> HttpSrv {
        HttpSrv {}
    }
}

pub fn generate(
    _rng: &mut Rng,
    _start: Time,
    _dur: u64,
    _servers: Vec<ServerSpec>,
    _hosts: &[usize],
) -> DpSpec {
    unimplemented!("http-proxy")
}

impl World {
    pub(crate) fn http_client_io(&mut self, _i: u32) {}
    pub(crate) fn http_server_io(&mut self, _i: u32) {}
    pub(crate) fn http_client_ended(&mut self, _i: u32) {}
    pub(crate) fn http_final_checks(&mut self) {}
}

pub fn parse_httplog(_toks: &[&str]) -> super::LogRec {
    unimplemented!()
}
