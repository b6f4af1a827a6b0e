fn main() {
    eprintln!("sluice-sim: not yet");
    std::process::exit(1);
}
