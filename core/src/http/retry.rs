//! `retry-on` layer 7 retries (HAProxy's `do_l7_retry` in `http_ana.c`,
//! the `l7_buffer` copy in `sc_conn_send`, `TX_L7_RETRY` set in
//! `process_stream` when the back side asks for a connection).
//!
//! A request can be sent again only when all of it is still at hand:
//! when its first bytes go to the server, the request must be whole in
//! the channel (`HTTP_MSG_DONE`), and a copy of it is kept in
//! [`HttpTxn::l7_buf`](crate::http::ana::HttpTxn::l7_buf); otherwise
//! layer 7 retries are off for it. When the server then closes or fails
//! before a response (`empty-response`), answers junk (`junk-response`),
//! does not answer in time (`response-timeout`) or answers a listed
//! status, the server connection is dropped, the copy goes back into the
//! request channel, the response side is reset, and the stream asks for a
//! connection again (on the same server, or another one with `option
//! redispatch`), while `retries` lasts. `conn-failure` is not here: a
//! failed connection is retried by the back connector (`CER`).

use crate::arena::Id;
use crate::cfgparse::RetryOn;
use crate::engine::Engine;
use crate::http::ana::{MsgState, TxnFlags};
use crate::sock::CloseHow;
use crate::stream::channel::ChnFlags;
use crate::stream::stconn::{ErrType, ScState, SeFlags};
use crate::stream::{Dir, ErrCode, FinSt, SfFlags, Stream};
use crate::time::Time;

impl Engine {
    /// The back side asks for a connection (INI -> REQ): layer 7 retries
    /// are possible if the backend's `retry-on` has more than
    /// `conn-failure` and no `http-request disable-l7-retry` ran.
    pub(crate) fn http_l7_retry_arm(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let l7 = self.proxies[s.be]
            .be
            .as_ref()
            .is_some_and(|b| b.cfg.retry_on.l7());
        if let Some(t) = s.txn.as_mut() {
            if l7 && !t.flags.contains(TxnFlags::NO_L7_RETRY) {
                t.flags |= TxnFlags::L7_RETRY;
            }
        }
    }

    /// Request bytes are about to leave for the server: the first time,
    /// keep a copy of the whole request, or give layer 7 retries up when
    /// it is not whole in the channel.
    pub(crate) fn http_l7_keep_request(&mut self, sid: Id<Stream>) {
        let Some(s) = self.streams.get_mut(sid) else {
            return;
        };
        let Some(t) = s.txn.as_mut() else {
            return;
        };
        if !t.flags.contains(TxnFlags::L7_RETRY) || t.l7_buf.is_some() {
            return;
        }
        if t.req.state != MsgState::Done {
            t.flags.remove(TxnFlags::L7_RETRY);
            return;
        }
        t.l7_buf = Some(s.req.output_bytes().into());
    }

    /// Whether `why` is in the backend's `retry-on` and the request may be
    /// retried (kept whole, nothing of a response forwarded yet).
    fn http_l7_retry_wanted(&self, sid: Id<Stream>, why: RetryOn) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return false;
        };
        let Some(t) = s.txn.as_ref() else {
            return false;
        };
        t.flags.contains(TxnFlags::L7_RETRY)
            && t.l7_buf.is_some()
            && s.res.output == 0
            && self.proxies[s.be]
                .be
                .as_ref()
                .is_some_and(|b| b.cfg.retry_on.intersects(why))
    }

    /// Whether a response of `status` is retried (`l7_status_match`).
    pub(crate) fn http_l7_retry_status(&self, sid: Id<Stream>, status: u16) -> bool {
        let Some(s) = self.streams.get(sid) else {
            return false;
        };
        let statuses = self.proxies[s.be]
            .be
            .as_ref()
            .is_some_and(|b| b.cfg.retry_on.status(status));
        statuses && self.http_l7_retry_wanted(sid, RetryOn::all())
    }

    /// `do_l7_retry`: when `why` is configured and retries are left, sends
    /// the kept request again on a new connection; returns whether it
    /// did (the caller then leaves the response alone).
    pub(crate) fn http_l7_retry(&mut self, now: Time, sid: Id<Stream>, why: RetryOn) -> bool {
        if !self.http_l7_retry_wanted(sid, why) {
            return false;
        }
        self.http_l7_retry_now(now, sid)
    }

    /// `do_l7_retry` once the reason was checked.
    pub(crate) fn http_l7_retry_now(&mut self, now: Time, sid: Id<Stream>) -> bool {
        let s = &mut self.streams[sid];
        if s.conn_retries == 0 {
            if let Some(t) = s.txn.as_mut() {
                t.l7_buf = None;
            }
            return false;
        }
        if !self.channel_alloc(sid, Dir::Req) {
            return false;
        }
        let s = &mut self.streams[sid];
        s.conn_retries -= 1;
        // The server connection goes (`sc_reset_endp`).
        s.scb.state = ScState::Clo;
        s.scb.exp = None;
        let conn = s.scb.sedesc.conn.take();
        if let Some(c) = conn {
            self.back_conn_drop(now, sid, c, CloseHow::Reset);
        }
        self.release_server_slot(sid);
        let s = &mut self.streams[sid];
        s.scb
            .sedesc
            .flags
            .remove(SeFlags::ERROR | SeFlags::SHR | SeFlags::SHW);
        s.scb.err_type = ErrType::None;
        s.err = ErrCode::None;
        s.finst = FinSt::None;
        // The response side starts again.
        s.res.buf.reset();
        s.res.output = 0;
        s.res.to_forward = 0;
        s.res.total = 0;
        s.res.rex = None;
        s.res.analyse_exp = None;
        s.ana.remove(crate::stream::AnaFlags::INSPECT_RES);
        s.res.flags.remove(
            ChnFlags::SHUTR | ChnFlags::READ_NULL | ChnFlags::READ_ERROR | ChnFlags::READ_TIMEOUT,
        );
        s.req.flags.remove(
            ChnFlags::SHUTW | ChnFlags::SHUTW_NOW | ChnFlags::WRITE_ERROR | ChnFlags::WRITE_TIMEOUT,
        );
        s.req.wex = None;
        if !s
            .req
            .flags
            .intersects(ChnFlags::READ_NULL | ChnFlags::READ_ERROR)
        {
            // Stopped by the server's failure (`back_abort`), not by the client.
            s.req.flags.remove(ChnFlags::SHUTR);
        }
        let t = s.txn.as_mut().expect("http stream");
        let kept = t.l7_buf.take().unwrap_or_default();
        t.rsp.state = MsgState::Head;
        t.rsp.parser.reset();
        t.status = None;
        t.flags
            .remove(TxnFlags::RES_SYNTH_CLEN | TxnFlags::SRV_CLOSE);
        // The kept request back into the channel, before what the client
        // sent since (`b_xfer` of the `l7_buffer`).
        let rest = s.req.buf.data()[s.req.output.min(s.req.buf.len())..].to_vec();
        s.req.output = 0;
        if s.req.buf.is_null() && !self.channel_alloc(sid, Dir::Req) {
            return false;
        }
        let s = &mut self.streams[sid];
        s.req.buf.reset();
        s.req.buf.put(&kept);
        s.req.buf.put(&rest);
        s.req.output = kept.len();
        // Same server or another one (`stream_choose_redispatch`).
        self.back_choose_redispatch(sid);
        let s = &mut self.streams[sid];
        s.scb.state = if s.flags.contains(SfFlags::ASSIGNED) {
            ScState::Ass
        } else {
            ScState::Req
        };
        true
    }
}
