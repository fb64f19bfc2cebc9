//! Bounded reading and cutting: the answer cut to `max_tool_response_bytes`, an exec's stdout
//! and stderr read together up to a cap, a stream read up to a cap. Pure over any `AsyncRead`
//! (the I/O is the caller's stream).

use tokio::io::{AsyncRead, AsyncReadExt as _};

/// Bytes `c` takes inside a JSON string, as the answer travels.
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if u32::from(c) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

/// `text` cut so that, JSON-escaped, it and the note fit in `max` bytes; the note says how
/// much was kept and how to see the rest. Cuts at a line end when one is in the second half of
/// what fits, so no half-line of YAML or log reaches the model, yet one long line after a short
/// one (an exec's note, then its output) is not dropped whole. Unchanged when it fits.
pub fn cut_answer(text: String, max: Option<usize>) -> String {
    let Some(max) = max else { return text };
    let total: usize = text.chars().map(escaped_len).sum();
    if total <= max {
        return text;
    }
    let note = |kept: usize| {
        format!(
            "\n\n[output truncated at {kept} of {total} bytes (max_tool_response_bytes = {max}): narrow the request (a namespace, a labelSelector or fieldSelector, a smaller tail) to see the rest]"
        )
    };
    // The note's own escapes (its two leading newlines) and the string's quotes.
    let budget = max.saturating_sub(note(max).len() + 4);
    let mut used = 0;
    let mut end = 0;
    for (i, c) in text.char_indices() {
        let n = escaped_len(c);
        if used + n > budget {
            break;
        }
        used += n;
        end = i + c.len_utf8();
    }
    let end = text[..end]
        .rfind('\n')
        .map(|nl| nl + 1)
        .filter(|&line_end| line_end >= end / 2)
        .unwrap_or(end);
    let mut kept = text;
    kept.truncate(end);
    let note = note(kept.chars().map(escaped_len).sum());
    kept.push_str(&note);
    kept
}

/// The tail to ask the apiserver for: the one asked (None: all), capped at `max` (None: no
/// cap); with the cap, when it cut the request.
pub fn cap_tail(asked: Option<i64>, max: Option<u32>) -> (Option<i64>, Option<u32>) {
    match (asked, max) {
        (_, None) => (asked, None),
        (Some(n), Some(max)) if n <= i64::from(max) => (Some(n), None),
        (_, Some(max)) => (Some(i64::from(max)), Some(max)),
    }
}

/// What a log answer says about its bounds: the tail cap that cut the request, and whether
/// older bytes were dropped to fit the answer.
pub fn log_notes(capped: Option<u32>, cut: bool) -> Vec<String> {
    let mut notes = Vec::new();
    if let Some(n) = capped {
        notes.push(format!(
            "the log is capped at its last {n} lines (max_log_tail_lines)"
        ));
    }
    if cut {
        notes.push("older output was dropped to fit max_tool_response_bytes".to_owned());
    }
    notes
}

/// What a command wrote, each stream kept whole unless `truncated`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Captured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// The two together reached the cap; reading stopped there.
    pub truncated: bool,
}

/// Reads `stdout` and `stderr` at the same time (a writer blocked on a full stderr pipe is
/// never left waiting for a stdout reader) until both end or together they pass `cap` bytes;
/// then stops, keeping `cap` bytes. No limit with `cap` None.
pub async fn capture<O, E>(
    mut stdout: O,
    mut stderr: E,
    cap: Option<usize>,
) -> std::io::Result<Captured>
where
    O: AsyncRead + Unpin,
    E: AsyncRead + Unpin,
{
    let mut got = Captured::default();
    let (mut out_open, mut err_open) = (true, true);
    let (mut out_chunk, mut err_chunk) = (vec![0; 8192], vec![0; 8192]);
    while out_open || err_open {
        // `read` is cancel-safe: the branch not taken loses no bytes.
        tokio::select! {
            n = stdout.read(&mut out_chunk), if out_open => {
                let n = n?;
                out_open = n > 0;
                got.stdout.extend_from_slice(&out_chunk[..n]);
            }
            n = stderr.read(&mut err_chunk), if err_open => {
                let n = n?;
                err_open = n > 0;
                got.stderr.extend_from_slice(&err_chunk[..n]);
            }
        }
        if let Some(cap) = cap.filter(|cap| got.stdout.len() + got.stderr.len() > *cap) {
            got.stdout.truncate(cap);
            got.stderr.truncate(cap - got.stdout.len());
            got.truncated = true;
            break;
        }
    }
    Ok(got)
}

/// Reads `stream` to its end, keeping only its last `cap` bytes (the newest lines of a log);
/// `true` when older bytes were dropped. Holds at most twice `cap` at any time.
pub async fn read_tail<R: AsyncRead + Unpin>(
    mut stream: R,
    cap: Option<usize>,
) -> std::io::Result<(Vec<u8>, bool)> {
    let mut out = Vec::new();
    let Some(cap) = cap else {
        stream.read_to_end(&mut out).await?;
        return Ok((out, false));
    };
    let mut dropped = false;
    let mut chunk = vec![0; 8192];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
        if out.len() > 2 * cap {
            out.drain(..out.len() - cap);
            dropped = true;
        }
    }
    if out.len() > cap {
        out.drain(..out.len() - cap);
        dropped = true;
    }
    Ok((out, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt as _;

    #[test]
    fn an_answer_that_fits_is_unchanged() {
        assert_eq!(cut_answer("a\nb".into(), Some(100)), "a\nb");
        assert_eq!(cut_answer("x".repeat(5000), None).len(), 5000);
    }

    #[test]
    fn a_long_answer_is_cut_at_a_line_end_under_the_limit_with_a_note() {
        let text = (0..10_000).fold(String::new(), |mut s, i| {
            let _ = writeln!(s, "line \"{i}\"");
            s
        });
        let cut = cut_answer(text.clone(), Some(4096));
        let wire = serde_json::to_string(&cut).unwrap();
        assert!(wire.len() <= 4096, "{} bytes on the wire", wire.len());
        let (kept, note) = cut.split_once("\n\n[output truncated at ").unwrap();
        assert!(text.starts_with(kept) && kept.ends_with('\n'));
        assert!(note.contains(&format!(
            "of {} bytes",
            serde_json::to_string(&text).unwrap().len() - 2
        )));
        assert!(note.contains("max_tool_response_bytes = 4096"));
    }

    #[test]
    fn one_long_line_after_a_short_one_is_cut_inside_the_long_line() {
        let text = format!("[a note]\n{}", "x".repeat(10_000));
        let cut = cut_answer(text, Some(4096));
        let (kept, _) = cut.split_once("\n\n[output truncated at ").unwrap();
        assert!(
            kept.starts_with("[a note]\nxxx") && kept.len() > 3000,
            "{kept}"
        );
    }

    #[test]
    fn control_characters_count_as_their_escapes() {
        let cut = cut_answer("\u{1}".repeat(2000), Some(1000));
        assert!(serde_json::to_string(&cut).unwrap().len() <= 1000);
    }

    #[test]
    fn a_missing_or_large_tail_is_capped_and_says_so() {
        assert_eq!(cap_tail(None, Some(1000)), (Some(1000), Some(1000)));
        assert_eq!(cap_tail(Some(5000), Some(1000)), (Some(1000), Some(1000)));
        assert_eq!(cap_tail(Some(100), Some(1000)), (Some(100), None));
        assert_eq!(cap_tail(None, None), (None, None));
    }

    /// kube's exec hands stdout and stderr over 1 KiB pipes, as here.
    fn pipes() -> (
        (impl AsyncRead, impl tokio::io::AsyncWrite),
        (impl AsyncRead, impl tokio::io::AsyncWrite),
    ) {
        let (out_r, out_w) = tokio::io::simplex(1024);
        let (err_r, err_w) = tokio::io::simplex(1024);
        ((out_r, out_w), (err_r, err_w))
    }

    #[tokio::test]
    async fn much_stderr_before_any_stdout_does_not_deadlock() {
        let ((out_r, mut out_w), (err_r, mut err_w)) = pipes();
        let writer = tokio::spawn(async move {
            err_w.write_all(&vec![b'e'; 64 * 1024]).await.unwrap();
            out_w.write_all(b"done\n").await.unwrap();
            // As kube's exec loop ends its pipes.
            out_w.shutdown().await.unwrap();
            err_w.shutdown().await.unwrap();
        });
        let got =
            tokio::time::timeout(Duration::from_secs(5), capture(out_r, err_r, Some(1 << 20)))
                .await
                .expect("reading stdout and stderr deadlocked")
                .unwrap();
        writer.await.unwrap();
        assert_eq!(got.stdout, b"done\n");
        assert_eq!(got.stderr.len(), 64 * 1024);
        assert!(!got.truncated);
    }

    #[tokio::test]
    async fn an_endless_writer_is_cut_at_the_cap() {
        let ((out_r, mut out_w), (err_r, mut err_w)) = pipes();
        tokio::spawn(async move {
            let _ = err_w.write_all(b"warning\n").await;
            while out_w.write_all(b"y\n").await.is_ok() {}
        });
        let got = tokio::time::timeout(Duration::from_secs(5), capture(out_r, err_r, Some(10_000)))
            .await
            .expect("an endless writer was read forever")
            .unwrap();
        assert!(got.truncated);
        assert_eq!(got.stdout.len() + got.stderr.len(), 10_000);
    }

    #[tokio::test]
    async fn a_long_stream_keeps_its_last_bytes() {
        let (mut w, r) = tokio::io::duplex(64);
        tokio::spawn(async move {
            for i in 0..10_000 {
                w.write_all(format!("{i:05}\n").as_bytes()).await.unwrap();
            }
        });
        let (got, dropped) = read_tail(r, Some(12)).await.unwrap();
        assert_eq!((got.as_slice(), dropped), (&b"09998\n09999\n"[..], true));
        let (got, dropped) = read_tail(&b"short"[..], Some(5)).await.unwrap();
        assert_eq!((got.as_slice(), dropped), (&b"short"[..], false));
    }
}
