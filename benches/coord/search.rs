//! Issue 13 scaffold: this part of coord_bench is filled in by the feature.

pub fn run() {
    println!("coord_bench search: not written yet");
}
