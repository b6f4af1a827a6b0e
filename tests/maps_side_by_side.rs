//! Map files and ACL pattern files side by side with HAProxy 2.6 fed the
//! same configuration and the same files: every `map*` converter over a
//! matrix of inputs (hit, miss with and without a default, several
//! matching entries, `map_regm` back-references, IP longest prefix,
//! integer ranges, `_int`/`_ip` values), ACLs with `-f`, then the stats
//! socket's `show/get/add/set/del/clear map|acl` answers, and the
//! converters again after the CLI changed the maps.

mod common;

use common::*;

/// (file name, contents).
const FILES: &[(&str, &str)] = &[
    (
        "str.map",
        "# hosts\n\nexample.com      be_example\n  www.example.com\tbe_www  \nexample.com be_dup\nbare\n",
    ),
    ("beg.map", "/api api\n/api/v2 api2\n/ root\n/api/v2 api2-dup\n"),
    ("sub.map", "admin adm\nlog lg\nad a\n"),
    ("dom.map", "example.com ex\norg org\nwww ww\n"),
    ("end.map", ".jpg img\n.css css\ng gee\n"),
    ("dir.map", "static st\napi ap\n/v2/ v2\n"),
    ("reg.map", "^/u/[0-9]+ user\n^/u/ any\n\\.(jpg|png)$ pic\n"),
    (
        "regm.map",
        "^/u/([0-9]+)/(.*)$ id=\\1;rest=\\2\n^(.*)\\.(.*)$ \\2_\\1\n^x(y)?z$ [\\1]\n",
    ),
    (
        "ip.map",
        "10.0.0.0/8 n8\n10.1.0.0/16 n16\n10.1.2.3 h32\n10.1.0.0/16 n16-dup\n192.168.0.0/255.255.0.255 odd\n2001:db8::/32 v6\n2001:db8:1::/48 v6-48\n::ffff:172.16.0.0/108 mapped\n",
    ),
    ("int.map", "1 one\n2:5 two-five\n10: big\n:-1 neg\n3 three\n"),
    ("intval.map", "a 1\nb -7\nc 42\n"),
    ("ipval.map", "a 1.2.3.4\nb ::1\nc 10.0.0.0\n"),
    ("ipip.map", "10.0.0.0/8 192.168.0.1\n2001:db8::/32 ::1\n"),
    ("ipint.map", "10.0.0.0/8 8\n10.1.0.0/16 16\n"),
    ("agents.acl", "# agents\nMozilla\n  curl agent  \nWget\n"),
    ("nets.acl", "10.0.0.0/8\n2001:db8::/32\n"),
];

/// (name, converter on the `x-in` header).
const CONVS: &[(&str, &str)] = &[
    ("map", "map(D/str.map,def)"),
    ("map-str", "map_str(D/str.map)"),
    ("beg", "map_beg(D/beg.map,none)"),
    ("sub", "map_sub(D/sub.map)"),
    ("dom", "map_dom(D/dom.map)"),
    ("end", "map_end(D/end.map)"),
    ("dir", "map_dir(D/dir.map)"),
    ("reg", "map_reg(D/reg.map,noreg)"),
    ("regm", "map_regm(D/regm.map,noregm)"),
    ("int", "map_int(D/int.map,noint)"),
    ("ip", "map_ip(D/ip.map,noip)"),
    ("str-int", "map_str_int(D/intval.map,-1)"),
    ("beg-int", "map_beg_int(D/intval.map)"),
    ("str-ip", "map_str_ip(D/ipval.map,0.0.0.0)"),
    ("ip-ip", "map_ip_ip(D/ipip.map,1.1.1.1)"),
    ("ip-int", "map_ip_int(D/ipint.map,0)"),
    ("ip-add", "map_str_int(D/intval.map,5),add(1)"),
];

/// (variable, condition) for ACLs with pattern files.
const ACLS: &[(&str, &str)] = &[
    ("ua", "{ req.hdr(x-in) -f D/agents.acl }"),
    ("ua-i", "{ req.hdr(x-in) -i -f D/agents.acl }"),
    ("ua-beg", "{ req.hdr(x-in) -m beg -f D/agents.acl }"),
    ("net", "{ req.hdr_ip(x-in) -f D/nets.acl }"),
    ("two", "{ req.hdr(x-in) -f D/agents.acl -M -f D/str.map }"),
    ("mixed", "{ req.hdr(x-in) -m sub -f D/agents.acl adm }"),
];

const INPUTS: &[&str] = &[
    "example.com",
    "www.example.com",
    "bare",
    "nope",
    "/api/v2/x",
    "/api",
    "/apix",
    "/static/a.jpg",
    "/u/42/profile",
    "/u/abc",
    "xz",
    "xyz",
    "http://x.example.com:80/",
    "admin.log",
    "10.1.2.3",
    "10.1.9.9",
    "10.200.0.1",
    "192.168.7.1",
    "192.168.7.0",
    "192.169.7.1",
    "2001:db8::5",
    "2001:db8:1::5",
    "::ffff:10.1.2.3",
    "172.16.0.5",
    "3",
    "12",
    "0",
    "-1",
    "a",
    "b",
    "c",
    "Mozilla",
    "mozilla",
    "curl agent",
    "Mozilla/5.0",
    "",
];

fn config(dir: &str, fe: u16) -> String {
    let d = |s: &str| s.replace("D/", &format!("{dir}/"));
    let mut rules = String::new();
    let mut body = String::new();
    for (name, conv) in CONVS {
        body.push_str(&format!("{name}=%[req.hdr(x-in),{}]\\n", d(conv)));
    }
    for (var, cond) in ACLS {
        rules.push_str(&format!(
            "    http-request set-var(txn.{}) str(hit) if {}\n",
            var.replace('-', "_"),
            d(cond)
        ));
        body.push_str(&format!("{var}=%[var(txn.{})]\\n", var.replace('-', "_")));
    }
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n\
         \x20   acl p path_beg /x /y\n\
         {rules}\
         \x20   http-request return status 200 content-type text/plain lf-string \"{body}\"\n"
    )
}

fn ask_all(port: u16) -> Vec<String> {
    INPUTS
        .iter()
        .map(|input| {
            let (head, body) = exchange(port, "/", &[("x-in", input)]);
            assert!(head.starts_with("HTTP/1.1 200"), "{head}\r\n\r\n{body}");
            body
        })
        .collect()
}

/// CLI commands; `D/` is the files' directory.
const CLI: &[&str] = &[
    "show map",
    "show acl",
    "show map D/str.map",
    "show acl D/agents.acl",
    "show acl #1",
    "show map D/agents.acl",
    "show acl D/str.map",
    "show map #99",
    "get map D/str.map example.com",
    "get map D/beg.map /api/v2/x",
    "get map D/ip.map 10.1.2.3",
    "get map D/ip.map 192.168.7.1",
    "get map D/regm.map /u/1/2",
    "get map D/intval.map b",
    "get map D/ipval.map b",
    "get map D/int.map 4",
    "get map D/str.map nope",
    "get acl D/agents.acl curl agent",
    "get acl D/agents.acl Mozilla",
    "get map",
    "add map D/str.map new.com be_new",
    "add map D/str.map",
    "add acl D/str.map foo",
    "add map D/intval.map d notanint",
    "add map D/intval.map d 17",
    "set map D/str.map example.com be_set",
    "set map D/str.map nope v",
    "set map D/intval.map a x",
    "set map D/str.map",
    "get map D/str.map example.com",
    "del map D/str.map www.example.com",
    "del map D/str.map www.example.com",
    "del acl D/str.map bare",
    "show map D/str.map",
    "add acl D/agents.acl Lynx",
    "del acl D/agents.acl Wget",
    "del acl D/agents.acl Wget",
    "show acl D/agents.acl",
    "clear map D/sub.map",
    "show map D/sub.map",
    "clear map",
    "add map D/int.map 7:8 seven",
    "show map",
    "show acl",
];

/// A CLI answer with what legitimately differs masked: element addresses
/// (HAProxy prints pointers, Sluice ids), the configuration file's name,
/// and the references of HAProxy's internal `httpclient` proxy.
fn mask(out: &str, dir: &str, who: &str) -> String {
    let cfg = format!("{dir}/{who}.cfg");
    let mut s = String::new();
    for line in out.lines() {
        if line.contains("file 'httpclient'") {
            continue;
        }
        let line = line.replace(&cfg, "CFG");
        let mut w: Vec<String> = Vec::new();
        for word in line.split(' ') {
            let hexish = word
                .strip_prefix("0x")
                .is_some_and(|h| !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()));
            w.push(if hexish { "0xADDR".into() } else { word.into() });
        }
        s.push_str(&w.join(" "));
        s.push('\n');
    }
    s
}

#[test]
fn maps_side_by_side() {
    if !haproxy_or_skip("maps_side_by_side") {
        return;
    }
    let dir = TempDir::new("maps_side_by_side");
    for (name, text) in FILES {
        write_file(&dir.join(name), text);
    }
    let d = dir.path().display().to_string();
    let ports = free_ports(2);
    // Per side: converters before, CLI answers, converters after.
    let mut seen: Vec<(Vec<String>, Vec<String>, Vec<String>)> = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            config(&d, fe)
        );
        let run = |cli_fn: &dyn Fn(&str) -> String| {
            let before = ask_all(fe);
            let answers: Vec<String> = CLI
                .iter()
                .map(|c| mask(&cli_fn(&c.replace("D/", &format!("{d}/"))), &d, who))
                .collect();
            let after = ask_all(fe);
            (before, answers, after)
        };
        if who == "ha" {
            let ha = HaRun::start(&dir, who, &cfg);
            seen.push(run(&|c| ha.cli(c)));
        } else {
            let s = Sluice::run(&dir, who, &cfg);
            let sock = s.sock.clone();
            seen.push(run(&|c| {
                cli(&sock, c).unwrap_or_else(|e| panic!("sluice: '{c}' failed: {e}"))
            }));
        }
    }
    let (ha, sl) = (&seen[0], &seen[1]);
    let mut differ = Vec::new();
    for (phase, a, b) in [("before", &ha.0, &sl.0), ("after", &ha.2, &sl.2)] {
        for (i, input) in INPUTS.iter().enumerate() {
            if a[i] != b[i] {
                println!(
                    "{phase} x-in {input:?}:\n--- haproxy\n{}\n--- sluice\n{}",
                    a[i], b[i]
                );
                differ.push(format!("{phase} {input:?}"));
            }
        }
    }
    for (i, c) in CLI.iter().enumerate() {
        if ha.1[i] != sl.1[i] {
            println!(
                "cli {c:?}:\n--- haproxy\n{}--- sluice\n{}",
                ha.1[i], sl.1[i]
            );
            differ.push(format!("cli {c:?}"));
        }
    }
    // The answers themselves, so that both sides failing alike cannot pass.
    let body = |input: &str, after: bool| {
        let i = INPUTS.iter().position(|x| *x == input).unwrap();
        if after {
            sl.2[i].clone()
        } else {
            sl.0[i].clone()
        }
    };
    let has = |input: &str, after: bool, want: &str| {
        let b = body(input, after);
        assert!(b.contains(want), "x-in {input:?}: {want:?} not in\n{b}");
    };
    has("example.com", false, "map=be_example\n");
    has("nope", false, "map=def\n");
    has("nope", false, "map-str=\n");
    has("/api/v2/x", false, "beg=api2\n");
    has("/u/42/profile", false, "regm=id=42;rest=profile\n");
    has("xz", false, "regm=[]\n");
    has("10.1.2.3", false, "ip=h32\n");
    has("10.1.9.9", false, "ip=n16\n");
    has("192.168.7.0", false, "ip=odd\n");
    has("172.16.0.5", false, "ip=mapped\n");
    has("12", false, "int=big\n");
    has("b", false, "str-int=-7\n");
    has("Mozilla", false, "ua=hit\n");
    has("mozilla", false, "ua-i=hit\n");
    has("curl agent", false, "ua=\n");
    has("example.com", true, "map=be_set\n");
    has("www.example.com", true, "map=def\n");
    assert!(
        sl.1[0].contains("(") && sl.1[0].contains("str.map"),
        "{}",
        sl.1[0]
    );
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy for {differ:?}"
    );
}
