//! Interpretation on arbitrary input: never a panic, and the generated family table matches its snapshot.

use auditsql_core::interpret::{arch_of, argv, families, py, sockaddr};
use auditsql_core::record::Record;
use proptest::prelude::*;

#[test]
fn families_match_the_snapshot() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tools/data/socket_families.tsv"
    );
    let text = std::fs::read_to_string(path).expect("tools/data/socket_families.tsv");
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("number\tname"));
    let rows: Vec<(u16, &str)> = lines
        .map(|l| {
            let (n, name) = l.split_once('\t').expect("row");
            (n.parse().expect("number"), name)
        })
        .collect();
    assert_eq!(rows, families::FAMILIES.to_vec());
}

fn key() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop::sample::select(b"a0123456789[]_len-+ x\xc3\xa9\xff".to_vec()),
        0..12,
    )
}

proptest! {
    #[test]
    fn sockaddr_never_panics(data in prop::collection::vec(any::<u8>(), 0..64), big in any::<bool>()) {
        let out = sockaddr::decode_sockaddr(&data, big);
        prop_assert!(out.contains_key("family"));
    }

    #[test]
    fn py_int_and_repr_never_panic(token in prop::collection::vec(any::<u8>(), 0..24)) {
        let _ = py::int(&token);
        let _ = py::int_hex_u32(&token);
        let _ = arch_of(Some(&token));
        let r = py::repr(&token);
        prop_assert!(r.len() >= 2);
    }

    #[test]
    fn argv_never_panics(
        fields in prop::collection::vec((key(), prop::collection::vec(any::<u8>(), 0..8)), 0..10),
        title in prop::collection::vec(any::<u8>(), 0..16),
    ) {
        let mut fields = fields;
        for (k, _) in fields.iter_mut() {
            k.insert(0, b'a');
        }
        let fields = fields.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        let rec = Record { fields, ..Record::default() };
        let (_, args, _) = argv::execve_argv(&[&rec]);
        prop_assert!(args.len() <= rec.fields.len());
        let _ = argv::proctitle_argv(Some(&title));
    }
}
