//! duet-loadtest: the load harness. The scenarios arrive with the load
//! issue; until then it only says so.

fn main() {
    eprintln!("duet-loadtest: no scenarios yet (see the load-harness issue)");
    std::process::exit(2);
}
