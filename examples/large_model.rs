//! Writes a synthetic gradient-boosted model of many full-depth trees, for
//! measuring how large generated code compiles (issue: large models stay
//! compilable). Usage:
//!
//! ```sh
//! cargo run --release --example large_model -- TREES DEPTH FEATURES out/model.json
//! ```

mod synthetic;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        return Err("usage: large_model TREES DEPTH FEATURES OUT".into());
    }
    let (trees, depth, features): (usize, u32, usize) =
        (args[1].parse()?, args[2].parse()?, args[3].parse()?);
    synthetic::model(trees, depth, features).save(std::path::Path::new(&args[4]))?;
    Ok(())
}
