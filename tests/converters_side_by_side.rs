//! The sample converters side by side with HAProxy 2.6 fed the same
//! configuration: each converter's output for inputs chosen at the edges
//! (empty, bad base64, padding in the middle, bad `%` escapes, `+` before
//! and after `?`, partial chunks) is sent back as a line of the body of
//! `http-request return ... lf-string`, and the bodies must be the same.

mod common;

use common::*;

/// (header name, sample expression): `x-in` is the input, `txn.k` holds
/// the request's `x-k` header.
const CONVS: &[(&str, &str)] = &[
    ("b64dec", "req.hdr(x-in),b64dec,hex"),
    ("ub64dec", "req.hdr(x-in),ub64dec,hex"),
    ("base64", "req.hdr(x-in),base64"),
    ("ub64enc", "req.hdr(x-in),ub64enc"),
    ("url-dec", "req.hdr(x-in),url_dec"),
    ("url-dec1", "req.hdr(x-in),url_dec(1)"),
    ("url-enc", "req.hdr(x-in),url_enc"),
    ("be2dec", "req.hdr(x-in),be2dec(:,3)"),
    ("be2dec-t", "req.hdr(x-in),be2dec(-,2,1)"),
    ("be2hex", "req.hdr(x-in),be2hex"),
    ("be2hex-t", "req.hdr(x-in),be2hex(.,4,1)"),
    ("sha1", "req.hdr(x-in),sha1,hex"),
    ("sha2", "req.hdr(x-in),sha2(384),hex"),
    ("digest", "req.hdr(x-in),digest(SHA512-256),hex"),
    ("md5", "req.hdr(x-in),digest(md5),hex"),
    ("hmac", "req.hdr(x-in),hmac(sha256,a2V5),hex"),
    ("hmac-var", "req.hdr(x-in),hmac(sha1,txn.k),hex"),
    ("crc32c", "req.hdr(x-in),crc32c"),
    ("crc32c-1", "req.hdr(x-in),crc32c(1)"),
    ("iif", "req.hdr(x-in),iif(yes,no)"),
    ("add-item", "req.hdr(x-in),add_item(',',txn.k,_s)"),
    ("add-item-v", "req.hdr(x-in),add_item(';',txn.k)"),
    ("concat", "req.hdr(x-in),concat(<,txn.k,>)"),
    ("memcmp", "req.hdr(x-in),sha1,base64,secure_memcmp(txn.k)"),
    ("strcmp", "req.hdr(x-in),strcmp(txn.k)"),
    ("bytes", "req.hdr(x-in),bytes(2,3)"),
    ("bytes-o", "req.hdr(x-in),bytes(4),hex"),
    ("bytes-0", "req.hdr(x-in),bytes(1,0),length"),
    ("bin", "bin(0aFf),hex"),
    ("cap", "capture.req.hdr(0)"),
    ("cap-1", "capture.req.hdr(1)"),
];

/// (x-in, x-k) pairs; `None`: header not sent.
const INPUTS: &[(&str, Option<&str>)] = &[
    ("", None),
    ("1", Some("NWoZK3kTsExUV00Ywo1G5jlUKKs=")),
    ("2", Some("NWoZK3kTsExUV00Ywo1G5jlUKKs=")),
    ("Zm8=", Some("a2V5")),
    ("QQ==QUJD", Some("")),
    ("Q===", Some("Q===")),
    ("QR==", Some("not base64")),
    ("Zg", None),
    ("-_8", Some("x")),
    ("Zg=", None),
    ("a%41%zz", None),
    ("/a+b?c+d%20%2B", Some("%")),
    ("a%4", None),
    ("foo=bar+42 42", None),
    ("0123456789abcdef", Some("0")),
];

fn config(fe: u16) -> String {
    let mut body = String::new();
    for (name, expr) in CONVS {
        body.push_str(&format!("{name}=%[{expr}]\\n"));
    }
    format!(
        "defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
         frontend fe\n    bind 127.0.0.1:{fe}\n\
         \x20   capture request header x-in len 5\n\
         \x20   http-request set-var(txn.k) req.hdr(x-k)\n\
         \x20   http-request return status 200 content-type text/plain lf-string \"{body}\"\n"
    )
}

/// The response's body: one `name=value` line per converter.
fn ask(port: u16, input: &str, key: Option<&str>) -> String {
    let mut headers = vec![("x-in", input)];
    if let Some(k) = key {
        headers.push(("x-k", k));
    }
    let (head, body) = exchange(port, "/", &headers);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}\r\n\r\n{body}");
    body
}

#[test]
fn converters_side_by_side() {
    if !haproxy_or_skip("converters_side_by_side") {
        return;
    }
    let dir = TempDir::new("converters_side_by_side");
    let ports = free_ports(2);
    let mut seen = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}{}",
            global_section(&dir.join(&format!("{who}.sock")), ""),
            config(fe)
        );
        let ask_all = || -> Vec<String> {
            INPUTS
                .iter()
                .map(|(input, key)| ask(fe, input, *key))
                .collect()
        };
        if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            seen.push(ask_all());
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            seen.push(ask_all());
        }
    }
    let mut differ = Vec::new();
    for (i, (input, key)) in INPUTS.iter().enumerate() {
        let (a, b) = (&seen[0][i], &seen[1][i]);
        if a != b {
            println!("x-in {input:?}, x-k {key:?}:\n--- haproxy\n{a}\n--- sluice\n{b}");
            differ.push(*input);
        }
    }
    // The answers themselves, for one input (so that a common mistake,
    // such as an empty body on both sides, cannot pass).
    let one = &seen[1][1];
    assert!(
        one.contains("sha1=356A192B7913B04C54574D18C28D46E6395428AB\n"),
        "{one}"
    );
    assert!(one.contains("memcmp=1\n"), "{one}");
    assert!(one.contains("iif=yes\n"), "{one}");
    assert!(one.contains("strcmp=-29\n"), "{one}");
    assert!(one.contains("bin=0AFF\n"), "{one}");
    assert!(one.contains("cap=1\n"), "{one}");
    assert!(
        differ.is_empty(),
        "Sluice differs from HAProxy for the inputs {differ:?}"
    );
}

/// `json_query` (HAProxy's mjson-based converter): the same documents and
/// paths through both; each answer is a `name=value` line of the body.
#[test]
fn json_query_side_by_side() {
    if !haproxy_or_skip("json_query_side_by_side") {
        return;
    }
    let queries: &[(&str, &str)] = &[
        ("ab", "json_query(\\$.a.b)"),
        ("n", "json_query(\\$.n)"),
        ("n-int", "json_query(\\$.n,int)"),
        ("arr", "json_query(\\$.arr)"),
        ("arr1", "json_query(\\$.arr[1])"),
        ("arr0", "json_query(\\$.arr[0])"),
        ("t", "json_query(\\$.t)"),
        ("f", "json_query(\\$.f)"),
        ("z", "json_query(\\$.z)"),
        ("o", "json_query(\\$.o)"),
        ("big", "json_query(\\$.big)"),
        ("pi", "json_query(\\$.pi)"),
        ("tiny", "json_query(\\$.tiny)"),
        ("neg-int", "json_query(\\$.neg,int)"),
        ("dot", "json_query(\\$.my\\\\.key)"),
        ("missing", "json_query(\\$.missing)"),
        ("str-int", "json_query(\\$.a.b,int)"),
        ("add", "json_query(\\$.n,int),add(1)"),
    ];
    let docs = [
        r#"{"a":{"b":"x y"},"n":4.7,"arr":[1,"two"],"t":true,"f":false,"z":null,"o":{},"big":1e20,"pi":3.14159265,"tiny":0.00001234,"neg":-3,"my.key":"dot"}"#,
        r#"{"a":{"b":"q\"uote"},"n":12345678,"arr":[],"pi":100000,"tiny":123456.7}"#,
        "not json",
        r#"{"a":{"b":"x"},"n":"#,
    ];
    let mut body = String::new();
    for (name, q) in queries {
        body.push_str(&format!("{name}=%[req.fhdr(x-json),{q}]\\n"));
    }
    let dir = TempDir::new("json_query");
    let ports = free_ports(2);
    let mut seen = Vec::new();
    for (who, fe) in [("ha", ports[0]), ("sluice", ports[1])] {
        let cfg = format!(
            "{}defaults\n    mode http\n    timeout connect 1s\n    timeout client 5s\n    timeout server 1s\n\
             frontend fe\n    bind 127.0.0.1:{fe}\n\
             \x20   http-request return status 200 content-type text/plain lf-string \"{body}\"\n",
            global_section(&dir.join(&format!("{who}.sock")), "")
        );
        let ask_all = || -> Vec<String> {
            docs.iter()
                .map(|d| {
                    let (head, body) = exchange(fe, "/", &[("x-json", d)]);
                    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
                    body
                })
                .collect()
        };
        if who == "ha" {
            let _ha = HaRun::start(&dir, who, &cfg);
            seen.push(ask_all());
        } else {
            let _s = Sluice::run(&dir, who, &cfg);
            seen.push(ask_all());
        }
    }
    for (i, d) in docs.iter().enumerate() {
        assert_eq!(seen[0][i], seen[1][i], "document {d}");
    }
    let first = &seen[1][0];
    for want in [
        "ab=x y\n",
        "n=4.7\n",
        "n-int=4\n",
        "arr=\n",
        "arr1=two\n",
        "t=1\n",
        "big=1e+20\n",
        "dot=dot\n",
        "add=5\n",
    ] {
        assert!(first.contains(want), "{want:?} not in:\n{first}");
    }
}
