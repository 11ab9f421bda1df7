#include "frontend/workload/io_pages.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

#include <fmt/format.h>

#include "common/units.hpp"
#include "common/xen/ring.hpp"

namespace pvsim::frontend::workload {
namespace {

constexpr std::size_t kPage = xen::kXenPageSize;

std::string shortage(std::size_t needed, std::size_t free_pages, std::size_t count,
                     std::size_t bytes) {
    return fmt::format(
        "the guest is short of memory for I/O buffers: {} buffers of {} need {} pages ({}), "
        "{} pages ({}) are free",
        count, format_size(bytes), needed, format_size(needed * kPage), free_pages,
        format_size(free_pages * kPage));
}

}  // namespace

IoPages::IoPages(hypervisor::DomainMemory& memory, std::size_t count, std::size_t bytes)
    : memory_(memory) {
    const std::size_t per_buffer = (bytes + kPage - 1) / kPage;
    const std::size_t needed = per_buffer * count;
    if (const std::size_t free_pages = memory_.free_pages(); free_pages < needed) {
        throw std::runtime_error(shortage(needed, free_pages, count, bytes));
    }
    buffers_.reserve(count);
    try {
        for (std::size_t i = 0; i < count; ++i) {
            GuestBuffer& buffer = buffers_.emplace_back();
            buffer.length = bytes;
            buffer.pages.reserve(per_buffer);
            for (std::size_t p = 0; p < per_buffer; ++p) {
                buffer.pages.push_back(memory_.allocate_page());
            }
        }
    } catch (const std::bad_alloc&) {
        // Someone else in the guest took pages since free_pages() was read.
        const std::size_t free_pages = memory_.free_pages();
        release();
        throw std::runtime_error(shortage(needed, free_pages, count, bytes));
    } catch (...) {
        release();
        throw;
    }
}

IoPages::~IoPages() {
    release();
}

void IoPages::release() noexcept {
    for (GuestBuffer& buffer : buffers_) {
        for (const hypervisor::Gfn gfn : buffer.pages) {
            try {
                memory_.free_page(gfn);
            } catch (...) {
                // Only a frame this object never allocated could be refused.
            }
        }
    }
    buffers_.clear();
}

void copy_to_buffer(const hypervisor::DomainMemory& memory, const GuestBuffer& buffer,
                    std::span<const std::byte> bytes) {
    for (std::size_t done = 0, i = 0; done < bytes.size(); ++i) {
        const std::size_t n = std::min(kPage, bytes.size() - done);
        std::memcpy(memory.page(buffer.pages.at(i)).data(), bytes.data() + done, n);
        done += n;
    }
}

void copy_from_buffer(const hypervisor::DomainMemory& memory, const GuestBuffer& buffer,
                      std::span<std::byte> bytes) {
    for (std::size_t done = 0, i = 0; done < bytes.size(); ++i) {
        const std::size_t n = std::min(kPage, bytes.size() - done);
        std::memcpy(bytes.data() + done, memory.page(buffer.pages.at(i)).data(), n);
        done += n;
    }
}

}  // namespace pvsim::frontend::workload
