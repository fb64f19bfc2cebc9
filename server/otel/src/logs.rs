//! Log lines that never stall the process. `tracing`'s formatter writes each line from the
//! thread that logs it, a tokio worker; written to stderr directly, a reader that stops
//! draining the pipe (an unread pipe of a parent process, a stuck terminal) blocked the worker
//! on the write, then every worker, and the whole process stopped answering. Here each line
//! goes to a bounded queue that a thread of its own writes to stderr; when the queue is full a
//! line is dropped and counted, never waited for. I/O: that thread writes stderr.

use std::sync::LazyLock;
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use tracing_subscriber::fmt::MakeWriter;

/// Lines waiting for stderr at most: a burst of a few hundred lines (a failing apiserver at
/// debug level) passes whole; a reader gone for good costs at most this much memory.
const QUEUE_LINES: usize = 4096;
/// How long [`LogGuard`]'s drop waits for the queued lines to reach stderr at exit.
const FLUSH_AT_EXIT: Duration = Duration::from_secs(1);

enum Message {
    Line(Vec<u8>),
    /// Answered once every line queued before it is written.
    Flush(SyncSender<()>),
}

/// Lines dropped by every writer of the process, for its metrics.
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The count of log lines dropped in this process because the queue was full.
pub fn log_lines_dropped() -> Counter {
    DROPPED.clone()
}

/// The `MakeWriter` of a `tracing_subscriber::fmt` layer: each line into the queue.
#[derive(Clone)]
pub struct LossyWriter {
    queue: SyncSender<Message>,
    dropped: Counter,
}

/// Writes what is queued to `out` (stderr, a log file) from a thread named `log-writer`;
/// counts the lines that found the queue full in [`log_lines_dropped`]. Keep the guard until
/// the process ends: its drop flushes.
pub fn lossy_writer(
    out: impl std::io::Write + Send + 'static,
) -> std::io::Result<(LossyWriter, LogGuard)> {
    lossy(out, log_lines_dropped())
}

fn lossy(
    out: impl std::io::Write + Send + 'static,
    dropped: Counter,
) -> std::io::Result<(LossyWriter, LogGuard)> {
    let (queue, lines) = mpsc::sync_channel(QUEUE_LINES);
    std::thread::Builder::new()
        .name("log-writer".into())
        .spawn(move || write_all(&lines, out))?;
    let writer = LossyWriter { queue, dropped };
    Ok((writer.clone(), LogGuard(writer)))
}

fn write_all(lines: &Receiver<Message>, mut out: impl std::io::Write) {
    for message in lines {
        match message {
            // Nowhere to report a failed write of a log line: it is lost, the next one tried.
            Message::Line(line) => drop(out.write_all(&line)),
            Message::Flush(done) => {
                let _ = out.flush();
                let _ = done.send(());
            }
        }
    }
}

/// One formatted event, queued whole when the formatter drops it.
pub struct Line {
    buffer: Vec<u8>,
    writer: LossyWriter,
}

impl std::io::Write for Line {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for Line {
    fn drop(&mut self) {
        if self.buffer.is_empty() {
            return;
        }
        let line = Message::Line(std::mem::take(&mut self.buffer));
        if self.writer.queue.try_send(line).is_err() {
            self.writer.dropped.inc();
        }
    }
}

impl<'a> MakeWriter<'a> for LossyWriter {
    type Writer = Line;

    fn make_writer(&'a self) -> Line {
        Line {
            buffer: Vec::new(),
            writer: self.clone(),
        }
    }
}

/// Flushes the queue on drop, waiting at most a second: the last lines of a process that
/// exits (why it stops) reach stderr, and an undrained stderr does not hold the exit.
pub struct LogGuard(LossyWriter);

impl Drop for LogGuard {
    fn drop(&mut self) {
        let deadline = Instant::now() + FLUSH_AT_EXIT;
        let (done, flushed) = mpsc::sync_channel(1);
        let mut flush = Message::Flush(done);
        loop {
            match self.0.queue.try_send(flush) {
                Ok(()) => break,
                Err(TrySendError::Full(again)) if Instant::now() < deadline => {
                    flush = again;
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(_) => return,
            }
        }
        // Not flushed in time: the lines still queued are lost with the process.
        let _ = flushed.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;
    use std::sync::{Arc, Mutex};

    /// An stderr whose reader stops: every write blocks until `open` is set.
    #[derive(Clone, Default)]
    struct Stuck {
        open: Arc<(Mutex<bool>, std::sync::Condvar)>,
        written: Arc<Mutex<Vec<u8>>>,
    }

    impl std::io::Write for Stuck {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            let (open, opened) = &*self.open;
            let guard = open.lock().unwrap();
            drop(opened.wait_while(guard, |open| !*open).unwrap());
            self.written.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_stuck_reader_costs_dropped_lines_not_a_blocked_logger() {
        let stuck = Stuck::default();
        let dropped = Counter::default();
        let (writer, guard) = lossy(stuck.clone(), dropped.clone()).unwrap();
        let started = Instant::now();
        for n in 0..QUEUE_LINES * 2 {
            let mut line = writer.make_writer();
            writeln!(line, "line {n}").unwrap();
        }
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "logging blocked"
        );
        // The queue holds QUEUE_LINES, the writer one more (stuck in its write).
        assert!(dropped.get() >= QUEUE_LINES as u64 - 1, "{}", dropped.get());
        let (open, opened) = &*stuck.open;
        *open.lock().unwrap() = true;
        opened.notify_all();
        drop(guard);
        let written = String::from_utf8(stuck.written.lock().unwrap().clone()).unwrap();
        assert!(written.starts_with("line 0\nline 1\n"), "{written:.40}");
        let lines = written.lines().count() as u64;
        assert_eq!(lines + dropped.get(), (QUEUE_LINES * 2) as u64);
    }
}
