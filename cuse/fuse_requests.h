#pragma once
// The request core shared by the FUSE-file and CUSE frontends: open files by
// handle, blocking reads parked until their device notifies, poll handles,
// interrupts, and the --trace line of every request. Every request is
// answered exactly once and every open file released exactly once.
//
// Device notifications never run file operations on the device's thread.
// Notify sends the poll notification itself (it only writes to /dev/fuse)
// and, only when a read is parked on the file, hands the file to the
// session loop, which completes the read in run_wakeups(). A notification
// with neither costs a lock and a counter.
#ifndef FUSE_USE_VERSION
#define FUSE_USE_VERSION 35
#endif
#include <fuse_lowlevel.h>

#include <cstddef>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/file.h"
#include "core/log.h"

namespace cusenet {

class RequestCore {
 public:
  // channel: where the core logs besides the trace channel (fuse or cuse).
  explicit RequestCore(log::Channel channel);
  ~RequestCore();
  RequestCore(const RequestCore&) = delete;
  RequestCore& operator=(const RequestCore&) = delete;

  // The fuse_lowlevel_ops of both frontends end here.
  void open(fuse_req_t req, Device& device, const fuse_file_info* fi);
  void read(fuse_req_t req, size_t size, const fuse_file_info* fi);
  void write(fuse_req_t req, const char* buf, size_t size, const fuse_file_info* fi);
  void poll(fuse_req_t req, const fuse_file_info* fi, fuse_pollhandle* ph);
  void release(fuse_req_t req, const fuse_file_info* fi);
  // Blank files the daemon opens ahead and later hands a process it
  // supervises, bound to a device file (cuse/seccomp_frontend.h): reserve()
  // a handle with the Notify its device file will be given; offer() it to a
  // thread of the daemon, whose OPEN of the handle's node claims it, blank;
  // bind() the device file once it exists. An offer nobody claimed is
  // withdrawn. A blank answers nothing (EBADF) and releases nothing.
  struct Reservation {
    uint64_t fh;
    Notify notify;
  };
  Reservation reserve();
  void offer(uint64_t fh, pid_t opener);
  bool offered_to(uint64_t fh, pid_t tid) const;
  void open_offered(fuse_req_t req, uint64_t fh, const fuse_file_info* fi);
  void withdraw(uint64_t fh);
  // False when the handle is no longer open.
  bool bind(uint64_t fh, std::shared_ptr<OpenFile> file, const Device* device);
  // Offered, or open and not yet released.
  bool known(uint64_t fh) const;
  // file's ioctl, tried once more when it was refused EBUSY while a RELEASE
  // of this core's was on its way (the name still held by a file whose
  // close() has returned): as close() had released synchronously.
  long ioctl_after_releases(OpenFile& file, const Caller& caller, unsigned cmd, uint64_t arg,
                            UserMemory& mem);

  // Runs one ioctl with the argument's memory the frontend provides and
  // returns the result (negative errno); the frontend replies, since how the
  // argument travels back differs. flags: the request's FUSE_IOCTL_* flags.
  long ioctl(fuse_req_t req, const fuse_file_info* fi, unsigned flags, unsigned cmd, uint64_t arg,
             UserMemory& mem);

  // Readable when another thread has handed over files with parked reads;
  // the loop then calls run_wakeups(). Files handed over by the loop's own
  // thread (a request's file operation notified) leave wake_fd() alone: the
  // loop asks wakeups_pending() after each request.
  int wake_fd() const;
  bool wakeups_pending() const;
  void run_wakeups();
  // Called on the session loop's thread before it serves anything.
  void serve_on_this_thread();

  // After the session loop has stopped: fails parked reads with EIO, drops
  // poll handles and releases every open file. Later notifications are ignored.
  void shutdown();

  size_t open_files() const;  // blanks not counted
  size_t parked_reads() const;
  size_t poll_handles() const;

 private:
  class Wakeups;
  struct Waiters;
  struct Parked {
    fuse_req_t req;
    size_t size;
    pid_t pid;
  };
  struct Handle {
    std::shared_ptr<OpenFile> file;
    const Device* device;  // its name() labels --trace lines
    std::shared_ptr<Waiters> waiters;  // shared with the file's Notify
    std::deque<Parked> parked;
  };

  struct Offer {
    Handle handle;
    pid_t opener;  // a thread of the daemon
  };

  // Answers an OPEN with fh, or releases the file when the caller is gone.
  void reply_open(fuse_req_t req, uint64_t fh, const Handle& h, pid_t pid, int flags);
  static void on_interrupt(fuse_req_t req, void* core);
  void interrupt(fuse_req_t req);
  // Completes the parked reads that the file can now answer. Needs mu_.
  void complete_parked(Handle& h);
  // Answers a read from h's file; false when it would block. waited: a
  // parked read (OpenFile::read_after_wait). Needs mu_.
  bool try_read(fuse_req_t req, size_t size, pid_t pid, Handle& h, bool waited);
  void fail_parked(Handle& h, int err);
  // RELEASEs completed so far; await_release_since(the count taken before
  // an ioctl) waits a moment for one being served, or still on its way, to
  // complete: false when none did.
  uint64_t releases_done();
  bool await_release_since(uint64_t before);

  const log::Channel channel_;
  std::shared_ptr<Wakeups> wakeups_;
  mutable std::mutex mu_;
  uint64_t next_fh_ = 1;
  std::unordered_map<uint64_t, Handle> files_;
  std::unordered_map<uint64_t, Offer> offers_;       // fh -> a file not yet claimed
  std::unordered_map<fuse_req_t, uint64_t> parked_;  // request -> fh
  std::vector<std::byte> scratch_;                   // read buffer, under mu_
  // RELEASEs being served. The kernel sends a file's RELEASE after close()
  // returns and the session's threads serve requests side by side, so a
  // request the program made after that close can overtake it: an ioctl
  // refused EBUSY (the name still held by the closed file) waits for them
  // and is tried again, as close() had released synchronously.
  std::mutex releasing_mu_;
  std::condition_variable released_;
  int releasing_ = 0;     // guarded by releasing_mu_
  uint64_t released_n_ = 0;  // RELEASEs completed; guarded by releasing_mu_
};

// Routes libfuse's own messages (it prints to stderr by default) to the fuse
// log channel.
void route_libfuse_log();

}  // namespace cusenet
