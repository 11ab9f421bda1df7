// The system calls another process makes, seen by the kernel as it makes
// them, for a test that must know what reached the kernel and in which order
// (a flush reaching fdatasync(2), a barrier's writes ordered around it)
// rather than what the process says it did.
//
// A seccomp filter answers the watched calls SECCOMP_RET_USER_NOTIF
// (seccomp_unotify(2), Linux 5.0; SECCOMP_USER_NOTIF_FLAG_CONTINUE 5.5):
// the calling thread stops in the call, this object's thread records it and
// lets it run, at once or, when the test holds it, once the test releases
// it. A held call is a call the kernel has not started, so a test can show
// that something waited for it: with a call held, nothing that must follow
// it may be seen. The filter is installed, like refuse_syscall.hpp's, in a
// thread the test starts the process from, so the test's other threads are
// untouched.
#pragma once

#include <gtest/gtest.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/os/unique_fd.hpp"

namespace pvsim::test {

// Installs in the calling thread (and what it starts from now on) a filter
// that stops each of `numbers` for a listener, and returns the listener.
inline os::UniqueFd notify_on_syscalls(const std::vector<long>& numbers) {
    std::vector<sock_filter> filter = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(seccomp_data, nr)),
    };
    for (const long number : numbers) {
        // Equal: return USER_NOTIF (the next instruction); else skip it.
        filter.push_back(BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, static_cast<unsigned>(number), 0, 1));
        filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
    }
    filter.push_back(BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
    sock_fprog program{static_cast<unsigned short>(filter.size()), filter.data()};
    EXPECT_EQ(::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
    // The listener is close-on-exec (seccomp(2)), so the process the thread
    // starts does not hold it.
    const long fd =
        ::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &program);
    EXPECT_GE(fd, 0) << "seccomp(SECCOMP_FILTER_FLAG_NEW_LISTENER): " << std::strerror(errno);
    return os::UniqueFd(static_cast<int>(fd));
}

class SyscallObserver {
  public:
    struct Call {
        std::uint64_t seq = 0;  // the order the kernel stopped the calls in
        long nr = -1;
        pid_t tid = 0;
        std::array<std::uint64_t, 6> args{};
        std::string fd_path;  // what args[0] names, as /proc/TID/fd shows it
        bool held = false;    // stopped, not yet let run
    };
    using Predicate = std::function<bool(const Call&)>;

    SyscallObserver() : thread_([this] { run(); }) {}
    ~SyscallObserver() {
        release_all();
        const std::uint64_t one = 1;
        EXPECT_EQ(::write(stop_.get(), &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
        thread_.join();
    }
    SyscallObserver(const SyscallObserver&) = delete;
    SyscallObserver& operator=(const SyscallObserver&) = delete;

    // Starts receiving what `listener` (notify_on_syscalls) reports.
    void watch(os::UniqueFd listener) {
        std::lock_guard lock(mutex_);
        listener_ = std::move(listener);
        const std::uint64_t one = 1;
        EXPECT_EQ(::write(wake_.get(), &one, sizeof(one)), static_cast<ssize_t>(sizeof(one)));
    }

    // From now on a call matching `hold` is kept stopped until release_all().
    void hold(Predicate predicate) {
        std::lock_guard lock(mutex_);
        hold_ = std::move(predicate);
    }
    // Lets every held call run; from now on holds what `next` matches (in
    // the same step, so that no call slips between the two).
    void release_all(Predicate next = nullptr) {
        std::lock_guard lock(mutex_);
        hold_ = std::move(next);
        for (Call& call : calls_) {
            if (call.held) {
                call.held = false;
                send_continue(ids_.at(call.seq));
            }
        }
    }

    std::vector<Call> calls() const {
        std::lock_guard lock(mutex_);
        return calls_;
    }

  private:
    void run() {
        seccomp_notif_sizes sizes{};
        ASSERT_EQ(::syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes), 0);
        // The kernel's structures may be larger than this header's.
        std::vector<std::byte> buffer(
            std::max<std::size_t>(sizes.seccomp_notif, sizeof(seccomp_notif)));
        for (;;) {
            int listener;
            {
                std::lock_guard lock(mutex_);
                listener = listener_.get();
            }
            pollfd fds[] = {
                {stop_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}, {listener, POLLIN, 0}};
            if (::poll(fds, listener >= 0 ? 3 : 2, -1) < 0) {
                continue;
            }
            if (fds[0].revents != 0) {
                return;
            }
            if (fds[1].revents != 0) {
                std::uint64_t count;
                EXPECT_EQ(::read(wake_.get(), &count, sizeof(count)),
                          static_cast<ssize_t>(sizeof(count)));
            }
            if (listener < 0 || (fds[2].revents & POLLIN) == 0) {
                if (listener >= 0 && (fds[2].revents & (POLLHUP | POLLERR)) != 0) {
                    // Every filtered task has gone.
                    std::lock_guard lock(mutex_);
                    listener_.reset();
                }
                continue;
            }
            std::fill(buffer.begin(), buffer.end(), std::byte{0});
            auto* notif = reinterpret_cast<seccomp_notif*>(buffer.data());
            if (::ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, notif) < 0) {
                continue;  // the caller died, or was interrupted
            }
            Call call;
            call.nr = notif->data.nr;
            call.tid = static_cast<pid_t>(notif->pid);
            for (std::size_t i = 0; i < call.args.size(); ++i) {
                call.args[i] = notif->data.args[i];
            }
            std::error_code error;
            call.fd_path = std::filesystem::read_symlink("/proc/" + std::to_string(call.tid) +
                                                             "/fd/" + std::to_string(call.args[0]),
                                                         error)
                               .string();
            std::lock_guard lock(mutex_);
            call.seq = calls_.size();
            call.held = hold_ && hold_(call);
            ids_.push_back(notif->id);
            calls_.push_back(call);
            if (!call.held) {
                send_continue(notif->id);
            }
        }
    }

    // Lets stopped call `id` run as if no filter had stopped it. ENOENT: its
    // thread has died meanwhile.
    void send_continue(std::uint64_t id) {
        seccomp_notif_resp response{};
        response.id = id;
        response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        if (listener_) {
            ::ioctl(listener_.get(), SECCOMP_IOCTL_NOTIF_SEND, &response);
        }
    }

    mutable std::mutex mutex_;
    os::UniqueFd listener_;
    Predicate hold_;
    std::vector<Call> calls_;
    std::vector<std::uint64_t> ids_;  // the kernel's id of calls_[seq]
    os::UniqueFd stop_{::eventfd(0, EFD_CLOEXEC)};
    os::UniqueFd wake_{::eventfd(0, EFD_CLOEXEC)};
    std::thread thread_;  // last: it uses the members above
};

}  // namespace pvsim::test
