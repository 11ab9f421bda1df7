// A counter set defined once. A counter set is a plain struct of
// std::uint64_t fields with a table naming each of them:
//
//   struct FooCounters {
//       std::uint64_t requests = 0;
//       std::uint64_t queues = 0;
//       static constexpr auto kFields = std::to_array<CounterField<FooCounters>>({
//           {"requests", &FooCounters::requests},
//           {"queues", &FooCounters::queues, CounterKind::gauge},
//       });
//   };
//
// and everything else is derived from the table: the sum and difference of
// two snapshots, the JSON object a report prints (the table's names, in its
// order), and LiveCounters, which a data-plane thread bumps with relaxed
// atomics while any thread takes a snapshot. So each counter's name is
// written twice: its field and its row.
#pragma once

#include <atomic>
#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

namespace pvsim {

enum class CounterKind {
    count,  // only grows: summed over queues, subtracted for a delta
    gauge,  // a level now (grants held, queues): summed, never subtracted
};

template <class Set>
struct CounterField {
    std::string_view name;
    std::uint64_t Set::*member;
    CounterKind kind = CounterKind::count;
};

// `sum` += `more`, field by field (gauges too: the level of several queues
// is their sum).
template <class Set>
void add_counters(Set& sum, const Set& more) noexcept {
    for (const auto& field : Set::kFields) {
        sum.*field.member += more.*field.member;
    }
}

// What happened between `before` and `after`: counts subtracted, gauges as
// they are `after`.
template <class Set>
Set counter_delta(const Set& after, const Set& before) noexcept {
    Set out = after;
    for (const auto& field : Set::kFields) {
        if (field.kind == CounterKind::count) {
            // A count that went back (its device was made anew) gives 0.
            const std::uint64_t was = before.*field.member;
            const std::uint64_t now = after.*field.member;
            out.*field.member = now >= was ? now - was : 0;
        }
    }
    return out;
}

// `set` with its gauges zeroed: what it counted, without the levels it had.
template <class Set>
Set counts_only(Set set) noexcept {
    for (const auto& field : Set::kFields) {
        if (field.kind == CounterKind::gauge) {
            set.*field.member = 0;
        }
    }
    return set;
}

template <class Set>
nlohmann::json counters_json(const Set& set) {
    nlohmann::json out = nlohmann::json::object();
    for (const auto& field : Set::kFields) {
        out[std::string(field.name)] = set.*field.member;
    }
    return out;
}

// Reads back what counters_json() wrote; fields it lacks stay 0.
template <class Set>
Set counters_from_json(const nlohmann::json& json) {
    Set out{};
    for (const auto& field : Set::kFields) {
        const auto found = json.find(std::string(field.name));
        if (found != json.end() && found->is_number_unsigned()) {
            out.*field.member = found->template get<std::uint64_t>();
        }
    }
    return out;
}

// A counter set one thread writes and any thread reads: each field is
// reached through std::atomic_ref with relaxed order, as counters need no
// ordering with the data they count.
template <class Set>
class LiveCounters {
  public:
    void add(std::uint64_t Set::*field, std::uint64_t n = 1) noexcept {
        std::atomic_ref<std::uint64_t>(values_.*field).fetch_add(n, std::memory_order_relaxed);
    }
    // For gauges (grants released).
    void sub(std::uint64_t Set::*field, std::uint64_t n = 1) noexcept {
        std::atomic_ref<std::uint64_t>(values_.*field).fetch_sub(n, std::memory_order_relaxed);
    }
    void set(std::uint64_t Set::*field, std::uint64_t value) noexcept {
        std::atomic_ref<std::uint64_t>(values_.*field).store(value, std::memory_order_relaxed);
    }
    std::uint64_t get(std::uint64_t Set::*field) const noexcept {
        return std::atomic_ref<std::uint64_t>(values_.*field).load(std::memory_order_relaxed);
    }
    // Each field read atomically (not all at one instant).
    Set snapshot() const noexcept {
        Set out{};
        for (const auto& field : Set::kFields) {
            out.*field.member = get(field.member);
        }
        return out;
    }

  private:
    mutable Set values_{};  // mutable: atomic_ref needs a non-const object to load
};

}  // namespace pvsim
