#[ringcore::test(cores = "two")]
async fn not_an_integer() {}

#[ringcore::test(ring_entries = 0)]
async fn out_of_range() {}

#[ringcore::test(ring_entries = 64, ring_entries = 128)]
async fn repeated() {}

#[ringcore::test(cores)]
async fn no_value() {}

fn main() {}
