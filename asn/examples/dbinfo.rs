//! Load ASN databases and print what they hold, or the error; look up the
//! addresses given after `--`.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (files, addrs) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (&args[..], &[][..]),
    };
    let paths: Vec<std::path::PathBuf> = files.iter().map(Into::into).collect();
    match pktsample_asn::AsDb::load(&paths) {
        Ok(db) => {
            println!("{db:?}");
            for w in db.warnings() {
                println!("warning: {w}");
            }
            for a in addrs {
                let o = db.lookup(a.parse().unwrap());
                println!("{a} {} {:?}", o.label(), db.origin_name(o));
            }
        }
        Err(e) => println!("error: {e}"),
    }
}
