//! Random 4 KiB reads of a ringcore `File` by `depth` tasks sharing one cursor over a list
//! of offsets: the ringcore side of the random-read rows of `benches/file_io.rs` and
//! `benches/file_fast_paths.rs`.

use std::cell::Cell;
use std::rc::Rc;

use ringcore::fs::File;

/// Reads 4 KiB at every offset with `depth` tasks; `make` builds each task's buffer.
pub(crate) async fn random_reads<B: ringcore::IoBufMut>(
    f: Rc<File>,
    offsets: Rc<Vec<u64>>,
    depth: usize,
    make: fn() -> B,
) {
    let next = Rc::new(Cell::new(0usize));
    let tasks: Vec<_> = (0..depth)
        .map(|_| {
            let (f, offsets, next) = (f.clone(), offsets.clone(), next.clone());
            ringcore::spawn(async move {
                let mut buf = make();
                loop {
                    let i = next.get();
                    if i >= offsets.len() {
                        break;
                    }
                    next.set(i + 1);
                    let (res, b) = f.read_at(buf, offsets[i]).await;
                    assert_eq!(res.unwrap(), 4096);
                    buf = b;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}
