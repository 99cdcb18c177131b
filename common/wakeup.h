// A file descriptor a socket loop can poll (zmq::pollitem_t.fd) to be woken
// by another thread or a signal handler: pool threads announcing finished
// chunks, Stop() calls, SIGTERM. Backed by an eventfd.
#ifndef TQ_COMMON_WAKEUP_H_
#define TQ_COMMON_WAKEUP_H_

namespace tq {

class Wakeup {
 public:
  Wakeup();  // aborts if the kernel refuses an eventfd (out of fds)
  ~Wakeup();
  Wakeup(const Wakeup&) = delete;
  Wakeup& operator=(const Wakeup&) = delete;

  // Thread-safe and async-signal-safe.
  void Notify();
  // Clears pending notifications; call from the polling thread after a wake.
  void Drain();
  int fd() const { return fd_; }

 private:
  int fd_;
};

}  // namespace tq

#endif  // TQ_COMMON_WAKEUP_H_
