#include "common/os/cpu_list.hpp"

#include <pthread.h>

#include <cerrno>
#include <charconv>
#include <system_error>

namespace pvsim::os {
namespace {

// xl's parse_range: "N" or "N-M" with M >= N, nothing after.
bool parse_range(std::string_view text, unsigned& first, unsigned& last) {
    const char* end = text.data() + text.size();
    auto [after_first, error] = std::from_chars(text.data(), end, first);
    if (error != std::errc{} || after_first == text.data()) {
        return false;
    }
    last = first;
    if (after_first != end && *after_first == '-') {
        const char* second = after_first + 1;
        auto [after_last, error_last] = std::from_chars(second, end, last);
        if (error_last != std::errc{} || after_last == second || last < first) {
            return false;
        }
        after_first = after_last;
    }
    return after_first == end;
}

std::string quoted(std::string_view text) {
    return "'" + std::string(text) + "'";
}

}  // namespace

CpuList CpuList::parse(std::string_view text) {
    CpuList list;
    if (text.empty()) {
        throw std::invalid_argument("an empty CPU list");
    }
    std::string_view rest = text;
    while (true) {
        const std::size_t comma = rest.find(',');
        std::string_view item = rest.substr(0, comma);
        const bool remove = !item.empty() && item.front() == '^';
        if (remove) {
            item.remove_prefix(1);
        }
        if (item == "all") {
            if (remove) {
                throw std::invalid_argument(quoted(text) + ": \"^\" and \"all\" do not combine");
            }
            const CpuList host = allowed();
            list.bits_ |= host.bits_;
        } else {
            unsigned first = 0;
            unsigned last = 0;
            if (!parse_range(item, first, last)) {
                throw std::invalid_argument(quoted(text) + ": " + quoted(item) +
                                            " is not a CPU, a range N-M or \"all\"");
            }
            if (last >= CPU_SETSIZE) {
                throw std::invalid_argument(quoted(text) + ": CPU " + std::to_string(last) +
                                            " is past the last a CPU set holds (" +
                                            std::to_string(CPU_SETSIZE - 1) + ")");
            }
            for (unsigned cpu = first; cpu <= last; ++cpu) {
                list.bits_.set(cpu, !remove);
            }
        }
        if (comma == std::string_view::npos) {
            break;
        }
        rest.remove_prefix(comma + 1);
    }
    if (list.bits_.none()) {
        throw std::invalid_argument(quoted(text) + " leaves no CPU");
    }
    return list;
}

CpuList CpuList::allowed() {
    // pid 0: the calling thread, which always exists.
    return *of_process(0);
}

std::optional<CpuList> CpuList::of_process(pid_t pid) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (::sched_getaffinity(pid, sizeof set, &set) != 0) {
        if (errno == ESRCH) {
            return std::nullopt;
        }
        throw std::system_error(errno, std::system_category(), "sched_getaffinity");
    }
    CpuList list;
    for (unsigned cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (CPU_ISSET(cpu, &set)) {
            list.bits_.set(cpu);
        }
    }
    return list;
}

void CpuList::check_within(const CpuList& host) const {
    for (const unsigned cpu : cpus()) {
        if (!host.contains(cpu)) {
            throw std::invalid_argument("CPU " + std::to_string(cpu) +
                                        " is not one this host runs on (it has " +
                                        host.to_string() + ")");
        }
    }
}

std::vector<unsigned> CpuList::cpus() const {
    std::vector<unsigned> result;
    for (unsigned cpu = 0; cpu < bits_.size(); ++cpu) {
        if (bits_.test(cpu)) {
            result.push_back(cpu);
        }
    }
    return result;
}

cpu_set_t CpuList::to_cpu_set() const {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (const unsigned cpu : cpus()) {
        CPU_SET(cpu, &set);
    }
    return set;
}

std::string CpuList::to_string() const {
    std::string text;
    const std::vector<unsigned> list = cpus();
    for (std::size_t i = 0; i < list.size();) {
        std::size_t j = i;
        while (j + 1 < list.size() && list[j + 1] == list[j] + 1) {
            ++j;
        }
        if (!text.empty()) {
            text += ',';
        }
        text += std::to_string(list[i]);
        if (j > i) {
            text += '-' + std::to_string(list[j]);
        }
        i = j + 1;
    }
    return text;
}

ThreadAffinityScope::ThreadAffinityScope(const CpuList& cpus) {
    CPU_ZERO(&saved_);
    if (const int err = ::pthread_getaffinity_np(::pthread_self(), sizeof saved_, &saved_);
        err != 0) {
        throw std::system_error(err, std::system_category(), "pthread_getaffinity_np");
    }
    const cpu_set_t wanted = cpus.to_cpu_set();
    if (const int err = ::pthread_setaffinity_np(::pthread_self(), sizeof wanted, &wanted);
        err != 0) {
        throw std::system_error(err, std::system_category(),
                                "pthread_setaffinity_np " + cpus.to_string());
    }
}

ThreadAffinityScope::~ThreadAffinityScope() {
    // Only a CPU of it gone offline meanwhile could refuse this; the thread
    // then keeps `cpus`, which still holds a CPU it ran on.
    (void)::pthread_setaffinity_np(::pthread_self(), sizeof saved_, &saved_);
}

}  // namespace pvsim::os
