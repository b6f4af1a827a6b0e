fn main() {
    eprintln!("proxy-mio: not yet");
    std::process::exit(1);
}
