//! `relay_rank(message_search, idfs)`: Okapi BM25 as an FTS5 auxiliary
//! function, with the IDF of each query phrase given by the caller.
//!
//! FTS5's own `bm25()` computes every phrase's IDF by walking the phrase's
//! whole doclist on each query: on a store of a million messages a word in
//! most of them costs about 50 ms before the first row is ranked, and
//! visibility and filter tokens are phrases too. Here the search module
//! estimates each body phrase's document frequency on a bounded sample
//! (the newest [`super::IDF_SAMPLE_DOCS`] documents of each kind) and
//! passes the IDFs in; per row this function only reads the phrases' hits
//! in the `body` column and the row's `body` length:
//!
//! score = Σ idf(p) · tf(p) · (k1 + 1) / (tf(p) + k1 · (1 − b + b · len / avg len)),
//! k1 = 1.2, b = 0.75 (the usual constants; FTS5's `bm25()` uses the same),
//! with `avg len` from FTS5's stored totals. Higher is better (FTS5's
//! `bm25()` returns the negation). `idfs` is a blob of little-endian f64,
//! one per phrase from the first; later phrases (the `meta` tokens) count
//! for nothing.

use std::ffi::{c_int, c_void};

use rusqlite::ffi;

/// BM25's term-frequency saturation.
pub const K1: f64 = 1.2;
/// BM25's length normalisation.
pub const B: f64 = 0.75;

/// The IDF of a phrase found in `n` of `total` sampled documents: BM25's
/// ln(1 + (N − n + 0.5) / (n + 0.5)), never negative.
pub fn idf(n: u64, total: u64) -> f64 {
    let (n, total) = (n as f64, total.max(n) as f64);
    (1.0 + (total - n + 0.5) / (n + 0.5)).ln()
}

/// Installs `relay_rank` on `conn` (once per connection: FTS5 keeps every
/// registration).
///
/// Errors: the SQLite error when FTS5 is missing.
pub(crate) fn register(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    // SAFETY: `fts5(?1)` with an `fts5_api_ptr` pointer binding is FTS5's
    // documented way to reach its API (https://sqlite.org/fts5.html §7.1);
    // the handle is this connection's, used on its thread, and the
    // statement is finalized before returning. The function pointer stays
    // valid for the connection's life (it is a plain `extern "C" fn`).
    unsafe {
        let db = conn.handle();
        let mut api: *mut ffi::fts5_api = std::ptr::null_mut();
        let mut stmt: *mut ffi::sqlite3_stmt = std::ptr::null_mut();
        let rc = ffi::sqlite3_prepare_v2(db, c"SELECT fts5(?1)".as_ptr(), -1, &mut stmt, std::ptr::null_mut());
        if rc != ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
        }
        ffi::sqlite3_bind_pointer(
            stmt,
            1,
            (&mut api as *mut *mut ffi::fts5_api).cast::<c_void>(),
            c"fts5_api_ptr".as_ptr(),
            None,
        );
        ffi::sqlite3_step(stmt);
        ffi::sqlite3_finalize(stmt);
        let Some(create) = api.as_ref().and_then(|a| a.xCreateFunction) else {
            return Err(rusqlite::Error::SqliteFailure(
                ffi::Error::new(ffi::SQLITE_ERROR),
                Some("FTS5 is not available".into()),
            ));
        };
        let rc = create(api, c"relay_rank".as_ptr(), std::ptr::null_mut(), Some(rank), None);
        if rc != ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(ffi::Error::new(rc), None));
        }
    }
    Ok(())
}

/// The auxiliary function itself (see the module doc).
unsafe extern "C" fn rank(
    api: *const ffi::Fts5ExtensionApi,
    fts: *mut ffi::Fts5Context,
    ctx: *mut ffi::sqlite3_context,
    n_val: c_int,
    vals: *mut *mut ffi::sqlite3_value,
) {
    // SAFETY: FTS5 calls this with its API table and the current row's
    // context; `vals` holds `n_val` values; the blob pointer is valid for
    // `bytes` bytes until the next call on that value, and is read at once.
    unsafe {
        let api = &*api;
        let idfs: &[u8] = match n_val {
            1.. => {
                let v = *vals;
                let p = ffi::sqlite3_value_blob(v).cast::<u8>();
                let bytes = ffi::sqlite3_value_bytes(v).max(0) as usize;
                if p.is_null() {
                    &[]
                } else {
                    std::slice::from_raw_parts(p, bytes)
                }
            }
            _ => &[],
        };
        let (Some(row_count), Some(total_size), Some(column_size), Some(phrase_count), Some(first), Some(next)) = (
            api.xRowCount,
            api.xColumnTotalSize,
            api.xColumnSize,
            api.xPhraseCount,
            api.xPhraseFirst,
            api.xPhraseNext,
        ) else {
            ffi::sqlite3_result_error(ctx, c"relay_rank: FTS5 API too old".as_ptr(), -1);
            return;
        };
        let (mut rows, mut tokens, mut len) = (0i64, 0i64, 0 as c_int);
        if row_count(fts, &mut rows) != ffi::SQLITE_OK
            || total_size(fts, 0, &mut tokens) != ffi::SQLITE_OK
            || column_size(fts, 0, &mut len) != ffi::SQLITE_OK
        {
            ffi::sqlite3_result_error(ctx, c"relay_rank: cannot read the index's sizes".as_ptr(), -1);
            return;
        }
        let avg = if rows > 0 && tokens > 0 {
            tokens as f64 / rows as f64
        } else {
            1.0
        };
        let norm = K1 * (1.0 - B + B * f64::from(len) / avg);
        let phrases = (phrase_count(fts).max(0) as usize).min(idfs.len() / 8);
        let mut score = 0.0;
        for (p, idf) in idfs.chunks_exact(8).enumerate().take(phrases) {
            let idf = f64::from_le_bytes(idf.try_into().expect("8 bytes"));
            let mut iter = ffi::Fts5PhraseIter {
                a: std::ptr::null(),
                b: std::ptr::null(),
            };
            let (mut col, mut off) = (0 as c_int, 0 as c_int);
            let mut tf = 0u32;
            if first(fts, p as c_int, &mut iter, &mut col, &mut off) != ffi::SQLITE_OK {
                continue;
            }
            while col >= 0 {
                if col == 0 {
                    tf += 1;
                }
                next(fts, &mut iter, &mut col, &mut off);
            }
            if tf > 0 {
                let tf = f64::from(tf);
                score += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        ffi::sqlite3_result_double(ctx, score);
    }
}

/// `idfs` as the blob `relay_rank` takes.
pub fn idf_blob(idfs: &[f64]) -> Vec<u8> {
    idfs.iter().flat_map(|f| f.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idf_falls_with_frequency_and_stays_positive() {
        assert!(idf(0, 1000) > idf(10, 1000));
        assert!(idf(10, 1000) > idf(900, 1000));
        assert!(idf(1000, 1000) > 0.0);
        assert!(idf(5, 0) > 0.0);
    }

    #[test]
    fn ranks_by_term_frequency_and_length() {
        let c = rusqlite::Connection::open_in_memory().unwrap();
        register(&c).unwrap();
        c.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(body, meta, content = '', tokenize = 'ascii');
             INSERT INTO t (rowid, body, meta) VALUES
               (1, 'cache cache cache', 'x'), (2, 'cache is cold', 'x'),
               (3, 'the cache in a long message about many other things', 'x cache'),
               (4, 'nothing', 'cache');",
        )
        .unwrap();
        let blob = idf_blob(&[1.0]);
        let order: Vec<(i64, f64)> = c
            .prepare("SELECT rowid, relay_rank(t, ?1) AS s FROM t WHERE t MATCH '\"cache\"' ORDER BY s DESC")
            .unwrap()
            .query_map([&blob], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(order.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        // A hit in `meta` only scores nothing.
        assert_eq!(order[3].1, 0.0);
        let none: f64 = c
            .query_row(
                "SELECT relay_rank(t, X'') FROM t WHERE t MATCH '\"cache\"' LIMIT 1",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(none, 0.0);
    }
}
