//! Prints how much of a store directory each kind of record takes (keys + values, before the
//! engine's own overhead) and what the block files take per kind (`raw`, `5m`, `1h`):
//! `cargo run --release -p store --example inspect -- DIR [redb|sled]`.

use std::collections::BTreeMap;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().ok_or("usage: inspect DIR [redb|sled]")?;
    let engine: store::Engine = args.next().as_deref().unwrap_or("redb").parse()?;
    let db = store::engine::open_engine(engine, std::path::Path::new(&dir))?;
    let mut by_tag: BTreeMap<char, (u64, u64, u64)> = BTreeMap::new();
    db.scan(&[], &[0xff; 32], &mut |k, v| {
        let e = by_tag.entry(k[0] as char).or_default();
        e.0 += 1;
        e.1 += k.len() as u64;
        e.2 += v.len() as u64;
        true
    })?;
    let (mut n, mut kb, mut vb) = (0, 0, 0);
    println!("tag  entries  key bytes  value bytes");
    for (tag, (c, k, v)) in &by_tag {
        println!("{tag}    {c:>7}  {k:>9}  {v:>11}");
        n += c;
        kb += k;
        vb += v;
    }
    println!("all  {n:>7}  {kb:>9}  {vb:>11}  ({} bytes)", kb + vb);
    let mut blocks: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    if let Ok(entries) = std::fs::read_dir(std::path::Path::new(&dir).join("blocks")) {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let kind = name.split('_').next().unwrap_or("?").to_string();
            let b = blocks.entry(kind).or_default();
            b.0 += 1;
            b.1 += e.metadata().map(|m| m.len()).unwrap_or(0);
        }
    }
    println!("block files  count  bytes");
    for (kind, (c, b)) in &blocks {
        println!("{kind:<11}  {c:>5}  {b}");
    }
    Ok(())
}
