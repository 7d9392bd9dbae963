//! Smoke test: files, tasks and timers on one core.
#[test]
fn smoke() {
    ringcore::block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a");
        ringcore::fs::write(&p, b"hello world" as &'static [u8])
            .await
            .unwrap();
        let v = ringcore::fs::read(&p).await.unwrap();
        assert_eq!(v, b"hello world");
        let h = ringcore::spawn(async { 5 });
        assert_eq!(h.await.unwrap(), 5);
        let t = std::time::Instant::now();
        ringcore::time::sleep(std::time::Duration::from_millis(20)).await;
        assert!(t.elapsed() >= std::time::Duration::from_millis(20));
        let n = ringcore::fs::copy(&p, dir.path().join("b")).await.unwrap();
        assert_eq!(n, 11);
    });
}
