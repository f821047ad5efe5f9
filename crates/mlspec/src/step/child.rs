//! The command a step runs, as a child process of whoever runs the step — `mlspec step run`, or
//! a pipeline runner running many steps at once in one process:
//!
//! - it is waited for with `wait4(2)`, so its CPU time and peak memory are its own (and its
//!   waited-for descendants'), never those of other steps running beside it;
//! - it is signalled through a pidfd, so a signal forwarded as it exits can never reach another
//!   process that reused its pid (kernels without pidfds fall back to the pid while it has not
//!   been reaped);
//! - it is killed (SIGKILL) when whoever runs it gives up on it before it ended, so that no
//!   command outlives the step it belongs to.

use std::io;
use std::os::fd::OwnedFd;
use std::process::{ChildStderr, ChildStdout, ExitStatus};

use mlspec_spec::kinds::ResourceUsage;
use nix::sys::signal::Signal;
use tokio::task::JoinHandle;
use wait4::Wait4 as _;

/// A started command.
pub struct Child {
    pid: rustix::process::Pid,
    pidfd: Option<OwnedFd>,
    waiting: Option<JoinHandle<io::Result<wait4::ResUse>>>,
    ended: bool,
}

/// How the command ended, and what it used.
pub struct Exit {
    pub status: ExitStatus,
    pub resources: ResourceUsage,
}

/// The command's piped output streams.
pub struct Pipes {
    pub stdout: Option<ChildStdout>,
    pub stderr: Option<ChildStderr>,
}

impl Child {
    /// Starts `command` (its stdout and stderr as the caller piped them) and begins waiting for
    /// it on a blocking thread.
    pub fn spawn(command: &mut std::process::Command) -> io::Result<(Child, Pipes)> {
        let mut child = command.spawn()?;
        let pid = rustix::process::Pid::from_child(&child);
        // Opened before anything can reap the child: the pidfd names this process for ever.
        let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).ok();
        let pipes = Pipes {
            stdout: child.stdout.take(),
            stderr: child.stderr.take(),
        };
        let waiting = tokio::task::spawn_blocking(move || child.wait4());
        Ok((
            Child {
                pid,
                pidfd,
                waiting: Some(waiting),
                ended: false,
            },
            pipes,
        ))
    }

    /// The process id.
    pub fn id(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Sends `signal` to the command, unless it has ended.
    pub fn signal(&self, signal: Signal) {
        if self.ended {
            return;
        }
        match (&self.pidfd, rustix::process::Signal::from_named_raw(signal as i32)) {
            (Some(pidfd), Some(signal)) => {
                let _ = rustix::process::pidfd_send_signal(pidfd, signal);
            }
            _ => {
                let pid = nix::unistd::Pid::from_raw(self.pid.as_raw_nonzero().get());
                let _ = nix::sys::signal::kill(pid, signal);
            }
        }
    }

    /// Waits for the command to end. Cancel-safe: dropping the future keeps the wait going, and
    /// a later call picks it up. An error once it has ended.
    pub async fn wait(&mut self) -> io::Result<Exit> {
        let waiting = self
            .waiting
            .as_mut()
            .ok_or_else(|| io::Error::other("the command was already waited for"))?;
        let waited = waiting.await;
        self.waiting = None;
        self.ended = true;
        let used = waited.map_err(io::Error::other)??;
        Ok(Exit {
            status: used.status,
            resources: ResourceUsage {
                cpu_seconds: Some((used.rusage.utime + used.rusage.stime).as_secs_f64()),
                peak_memory_bytes: Some(used.rusage.maxrss),
            },
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.signal(Signal::SIGKILL);
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use super::*;

    fn shell(script: &str) -> Command {
        let mut command = Command::new("sh");
        command.args(["-c", script]).stdout(Stdio::null()).stderr(Stdio::null());
        command
    }

    #[tokio::test]
    async fn each_command_is_charged_its_own_cpu_time() {
        // One command burns CPU, the other sleeps; waited for at once, each keeps its own figure.
        let (mut busy, _) = Child::spawn(&mut shell("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done")).unwrap();
        let (mut idle, _) = Child::spawn(&mut shell("sleep 0.3")).unwrap();
        let (busy, idle) = tokio::join!(busy.wait(), idle.wait());
        let (busy, idle) = (busy.unwrap(), idle.unwrap());
        assert!(busy.status.success() && idle.status.success());
        let cpu = |exit: &Exit| exit.resources.cpu_seconds.unwrap();
        assert!(cpu(&busy) > 0.05, "busy: {}", cpu(&busy));
        assert!(cpu(&idle) < 0.05, "idle: {}", cpu(&idle));
        assert!(busy.resources.peak_memory_bytes.unwrap() > 0);
    }

    #[tokio::test]
    async fn a_signal_reaches_the_command_and_a_dropped_child_is_killed() {
        let (mut child, _) = Child::spawn(&mut shell("exec sleep 30")).unwrap();
        child.signal(Signal::SIGTERM);
        let exit = tokio::time::timeout(Duration::from_secs(5), child.wait())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(std::os::unix::process::ExitStatusExt::signal(&exit.status), Some(15));
        assert!(child.wait().await.is_err(), "waited for twice");

        let (child, _) = Child::spawn(&mut shell("exec sleep 30")).unwrap();
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        drop(child);
        let gone = (0..100).any(|_| {
            std::thread::sleep(Duration::from_millis(20));
            // Reaped by the blocking wait once killed: the pid no longer names it.
            nix::sys::signal::kill(pid, None).is_err()
        });
        assert!(gone, "the dropped command is still running");
    }
}
