//! Fuzzing on stable, bounded for CI: the targets of `fuzz/src/lib.rs` run over their seeds, every
//! input saved under `fuzz/regressions/<target>/` (inputs that once broke a target), and random
//! mutations of the seeds for `STROM_FUZZ_SECS` seconds per target (default 8; the seed is
//! printed, `STROM_FUZZ_SEED` replays it). Every input runs under a per-thread heap meter: its
//! peak must stay within a bound proportional to the input.
//!
//! The long runs are coverage-guided: `scripts/fuzz.sh` (cargo-fuzz, nightly). This file also
//! holds the regression tests for what fuzzing and the hostile-frame work found.

#[path = "../fuzz/src/lib.rs"]
mod targets;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::time::{Duration, Instant};

/// Counts the live heap bytes of each thread (frees from other threads count where they happen,
/// hence signed), so one test's input can be metered while other tests run.
struct Meter;

thread_local! {
    static LIVE: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

fn add(delta: isize) {
    let _ = LIVE.try_with(|live| {
        let now = live.get() + delta;
        live.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to the system allocator unchanged; the meter only counts.
unsafe impl GlobalAlloc for Meter {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        add(layout.size() as isize);
        // SAFETY: forwarded with the caller's layout.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        add(-(layout.size() as isize));
        // SAFETY: forwarded with the caller's pointer and layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // Old and new blocks may both be live while the data moves.
        add(new_size as isize);
        // SAFETY: forwarded with the caller's pointer, layout and size.
        let out = unsafe { System.realloc(ptr, layout, new_size) };
        add(-(layout.size() as isize));
        out
    }
}

#[global_allocator]
static METER: Meter = Meter;

/// Runs `f` and returns the peak heap growth of this thread while it ran.
fn peak_heap(f: impl FnOnce()) -> usize {
    let base = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(base));
    f();
    (PEAK.with(Cell::get) - base).max(0) as usize
}

/// A target with the heap it may use for an input of `len` bytes.
struct Target {
    name: &'static str,
    run: fn(&[u8]),
    seeds: fn() -> Vec<Vec<u8>>,
    heap_bound: fn(usize) -> usize,
}

const REQUEST: Target = Target {
    name: "request",
    run: targets::request,
    seeds: targets::request_seeds,
    // A 1-byte array element can decode to a 32-byte string or a larger struct, and a Vec
    // doubles while it grows: up to ~96 bytes per input byte (measured), never more.
    heap_bound: |len| 128 * len + (1 << 20),
};

const BATCH: Target = Target {
    name: "batch",
    run: targets::batch,
    seeds: targets::batch_seeds,
    // Decompressors' own state, whatever the payload expands to: a zstd window of up to
    // 128 MiB (reserved by ruzstd up front), lz4 blocks of up to 4 MiB, snappy blocks of up to
    // 22 times their size; plus copies of the input.
    heap_bound: |len| 64 * len + (140 << 20),
};

fn run_metered(target: &Target, input: &[u8], what: &str) {
    let peak = peak_heap(|| (target.run)(input));
    let bound = (target.heap_bound)(input.len());
    assert!(
        peak <= bound,
        "{} target: {what} ({} bytes) peaked at {peak} heap bytes, bound {bound}",
        target.name,
        input.len()
    );
}

/// xorshift64*: reproducible from the printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that sit on decoders' edges: lengths and counts of -1, 0, huge, varint continuations.
const INTERESTING: &[&[u8]] = &[
    &[0xff, 0xff, 0xff, 0xff],
    &[0x7f, 0xff, 0xff, 0xff],
    &[0x80, 0x00, 0x00, 0x00],
    &[0x00, 0x00, 0x00, 0x00],
    &[0xff, 0xfe],
    &[0x7f, 0xff],
    &[0xff, 0xff, 0xff, 0xff, 0x0f],
    &[0x80, 0x80, 0x80, 0x80, 0x80],
    &[0x00],
    &[0x01],
];

/// One to eight random edits of `input`, sometimes spliced with another seed.
fn mutate(rng: &mut Rng, input: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if at < input.len() => input[at] ^= 1 << rng.below(8),
            1 if at < input.len() => input[at] = rng.next() as u8,
            2 => {
                let v = INTERESTING[rng.below(INTERESTING.len())];
                let end = (at + v.len()).min(input.len());
                input.splice(at..end, v.iter().copied());
            }
            3 => input.insert(at, rng.next() as u8),
            4 if at < input.len() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at..end);
            }
            5 => input.truncate(at),
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len());
                let end = (from + 1 + rng.below(64)).min(other.len());
                input.splice(at..at, other[from..end].iter().copied());
            }
        }
        if input.is_empty() {
            input.push(1);
        }
    }
}

fn fuzz_for(target: &Target) {
    let seeds = (target.seeds)();
    for (i, seed) in seeds.iter().enumerate() {
        run_metered(target, seed, &format!("seed {i}"));
    }
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target.name);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let input = std::fs::read(entry.path()).expect("regression input");
            run_metered(target, &input, &entry.path().display().to_string());
        }
    }
    let secs = std::env::var("STROM_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(8);
    let seed = std::env::var("STROM_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
                | 1
        });
    println!("{} target: STROM_FUZZ_SEED={seed}, {secs} s", target.name);
    let mut rng = Rng(seed);
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut execs = 0u64;
    while Instant::now() < deadline {
        let mut input = seeds[rng.below(seeds.len())].clone();
        mutate(&mut rng, &mut input, &seeds);
        let shown = input.clone();
        let outcome = std::panic::catch_unwind(|| run_metered(target, &input, "mutated input"));
        if let Err(e) = outcome {
            panic!(
                "{} target failed (STROM_FUZZ_SEED={seed}) on input {shown:02x?}: {}",
                target.name,
                e.downcast_ref::<String>()
                    .map(String::as_str)
                    .or_else(|| e.downcast_ref::<&str>().copied())
                    .unwrap_or("panic")
            );
        }
        execs += 1;
    }
    println!("{} target: {execs} executions", target.name);
}

#[test]
fn request_decoder_survives_fuzzing() {
    fuzz_for(&REQUEST);
}

#[test]
fn batch_validator_survives_fuzzing() {
    fuzz_for(&BATCH);
}

/// Bodies made of one pattern repeated, which claims a huge count or length wherever the
/// decoder reads one: every API key at every version must reserve no more than the body holds
/// (a few nested arrays at most), not memory for the count it read.
#[test]
fn decoders_reserve_no_more_than_the_bytes_present() {
    use kafka_protocol::messages::{ApiKey, RequestKind};
    const BODY: usize = 1 << 20;
    for pattern in [
        &[0x7f, 0xff, 0xff, 0xff][..],
        &[0xff][..],
        &[0xff, 0xff, 0xff, 0xff, 0x0f][..],
        &[0x00, 0x00, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff][..],
    ] {
        let body = bytes::Bytes::from(pattern.repeat(BODY / pattern.len()));
        for key in ApiKey::iter() {
            let valid = key.valid_versions();
            for version in valid.min..=valid.max {
                let peak = peak_heap(|| {
                    let _ = RequestKind::decode(key, &mut body.clone(), version);
                });
                assert!(
                    peak <= 8 * BODY,
                    "{key:?} v{version} on {pattern:02x?}: {peak} heap bytes for a {BODY}-byte body"
                );
            }
        }
    }
}

/// Issue #10: a 65 KB zstd batch expanding to 2 GiB took 2.1 GB to look into. Its one record is
/// well formed (a 2 GiB value of zeros), so validation must expand all of it, as Kafka does, but
/// through a stream: memory stays the decompressor's window.
#[test]
fn zstd_bomb_validates_in_bounded_memory() {
    // The record: length i32::MAX, attributes, deltas 0, null key, then a value of `value_len`
    // bytes and a header count, all zeros. Its first bytes go in a raw block, the zeros in RLE
    // blocks of 128 KiB (4 bytes each): about 16,400 of them, 64 KiB.
    let value_len: u64 = (1 << 31) - 1 - 10;
    let mut start = vec![0xfe, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0x01];
    let mut v = value_len << 1;
    while v >= 0x80 {
        start.push(v as u8 | 0x80);
        v >>= 7;
    }
    start.push(v as u8);
    let mut zeros = value_len as usize + 1;
    let mut zstd = vec![0x28, 0xb5, 0x2f, 0xfd, 0x00, 7 << 3]; // no content size, 1 MiB window
    let block = |last: bool, kind: u32, size: usize| {
        let h = u32::from(last) | (kind << 1) | ((size as u32) << 3);
        [h as u8, (h >> 8) as u8, (h >> 16) as u8]
    };
    zstd.extend(block(false, 0, start.len()));
    zstd.append(&mut start);
    while zeros > 0 {
        let n = zeros.min(128 * 1024);
        zeros -= n;
        zstd.extend(block(zeros == 0, 1, n));
        zstd.push(0);
    }
    assert!(zstd.len() < 70 * 1024, "the bomb is {} bytes", zstd.len());
    let batch = targets::batch_bytes(4, 1, &zstd);
    let tp = strom::log::TopicPartition::new("bomb", 0);
    let peak = peak_heap(|| {
        let result = strom::log::validate_produce_batches(&batch, 1 << 20, &tp);
        assert!(result.is_ok(), "{result:?}");
    });
    assert!(
        peak < 16 << 20,
        "validating the bomb peaked at {peak} heap bytes"
    );
}

/// Writes the seed inputs as files under `$STROM_FUZZ_SEEDS_DIR/<target>/` for libFuzzer
/// (`scripts/fuzz.sh` sets it); does nothing otherwise.
#[test]
fn write_seeds_for_libfuzzer() {
    let Some(dir) = std::env::var_os("STROM_FUZZ_SEEDS_DIR") else {
        return;
    };
    for target in [REQUEST, BATCH] {
        let dir = Path::new(&dir).join(target.name);
        std::fs::create_dir_all(&dir).expect("seed dir");
        for (i, seed) in (target.seeds)().iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:04}")), seed).expect("seed file");
        }
    }
}
