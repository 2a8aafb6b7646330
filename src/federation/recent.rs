//! Ids of the activities this process accepted lately, so that a re-delivery is answered without a database read
//! or a signature check (`inbox.rs`).
//!
//! Our own set rather than a `moka` cache, for memory: a moka entry (the id's `String`, its node in the
//! access and write orders, its expiry) cost about 370 bytes, so 10,000 ids kept 3.7 MiB after a load
//! (measured with B1 and a minute's settling, docs/performance.md). Here an id is a 128-bit keyed hash in one
//! of two generations, 16 bytes plus the table's overhead. Expiry is by generation: the current one becomes
//! the previous when it is full or half the maximum age old, and the previous one is dropped then, so an id is
//! remembered for between half and all of [`RecentIds::new`]'s `max_age`, and at most `capacity` are held.
//!
//! The hash is SipHash with two random per-process keys, so a sender cannot make an id collide with
//! another on purpose; by chance, among 10,000 ids, about once in 10^34 lookups. A collision would answer a
//! new activity as a duplicate.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct RecentIds {
    keys: (RandomState, RandomState),
    capacity: usize,
    max_age: Duration,
    generations: Mutex<Generations>,
}

struct Generations {
    current: HashSet<u128>,
    previous: HashSet<u128>,
    started: Instant,
}

impl Generations {
    /// Drops what has aged out: a generation lives half the maximum age as the current one, then as long again
    /// as the previous one.
    fn expire(&mut self, max_age: Duration) {
        let age = self.started.elapsed();
        if age >= max_age {
            self.current = HashSet::new();
            self.previous = HashSet::new();
            self.started = Instant::now();
        } else if age >= max_age / 2 {
            self.rotate();
        }
    }

    fn rotate(&mut self) {
        self.previous = std::mem::take(&mut self.current);
        self.started = Instant::now();
    }
}

impl RecentIds {
    /// Remembers at most `capacity` ids, none for longer than `max_age`.
    pub fn new(capacity: usize, max_age: Duration) -> RecentIds {
        RecentIds {
            keys: (RandomState::new(), RandomState::new()),
            capacity: capacity.max(2),
            max_age,
            generations: Mutex::new(Generations {
                current: HashSet::new(),
                previous: HashSet::new(),
                started: Instant::now(),
            }),
        }
    }

    fn key(&self, id: &str) -> u128 {
        (u128::from(self.keys.0.hash_one(id)) << 64) | u128::from(self.keys.1.hash_one(id))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The sets stay consistent whatever panicked while holding the lock: a poisoned lock is used as is.
        self.generations
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn contains(&self, id: &str) -> bool {
        let key = self.key(id);
        let mut g = self.lock();
        g.expire(self.max_age);
        g.current.contains(&key) || g.previous.contains(&key)
    }

    pub fn insert(&self, id: &str) {
        let key = self.key(id);
        let mut g = self.lock();
        g.expire(self.max_age);
        if g.current.len() >= self.capacity / 2 {
            g.rotate();
        }
        g.current.insert(key);
    }

    /// How many ids are held (both generations; an id in both counts twice).
    pub fn len(&self) -> usize {
        let g = self.lock();
        g.current.len() + g.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_what_was_inserted_and_nothing_else() {
        let recent = RecentIds::new(100, Duration::from_secs(600));
        assert!(recent.is_empty());
        recent.insert("https://remote.example/activities/1");
        assert!(recent.contains("https://remote.example/activities/1"));
        assert!(!recent.contains("https://remote.example/activities/2"));
        assert!(!recent.contains("https://remote.example/activities/1/"));
        assert_eq!(recent.len(), 1);
    }

    #[test]
    fn holds_at_most_its_capacity_and_forgets_the_oldest_first() {
        let recent = RecentIds::new(10, Duration::from_secs(600));
        for i in 0..25 {
            recent.insert(&format!("a{i}"));
            assert!(recent.len() <= 10, "{} after {i}", recent.len());
        }
        // The last generation and the one before it: at least the last five, never the first ten.
        for i in 20..25 {
            assert!(recent.contains(&format!("a{i}")), "a{i}");
        }
        for i in 0..10 {
            assert!(!recent.contains(&format!("a{i}")), "a{i}");
        }
    }

    #[test]
    fn forgets_after_the_maximum_age() {
        let recent = RecentIds::new(100, Duration::from_millis(1000));
        recent.insert("old");
        std::thread::sleep(Duration::from_millis(600));
        // Half the age: moved to the previous generation, still remembered.
        assert!(recent.contains("old"));
        recent.insert("newer");
        std::thread::sleep(Duration::from_millis(600));
        // "old" has lived two half-ages; "newer" one.
        assert!(!recent.contains("old"));
        assert!(recent.contains("newer"));
        std::thread::sleep(Duration::from_millis(1100));
        assert!(!recent.contains("newer"));
        assert!(recent.is_empty());
    }
}
