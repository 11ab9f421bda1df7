// Compares one of pvsim's structures with the {name, size, offset} table the
// C side exported for the real one.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <span>
#include <string>
#include <utility>

#include "real_virtio.h"

namespace pvsim::test {

struct Field {
    std::size_t size;
    std::size_t offset;
};

// One entry of the map below: our field under the real header's name (where
// the two differ, a test spells the entry out with field_entry()).
inline std::pair<const std::string, Field> field_entry(const char* name, std::size_t size,
                                                       std::size_t offset) {
    return {name, Field{size, offset}};
}
#define PVSIM_FIELD(type, field) \
    ::pvsim::test::field_entry(#field, sizeof(type::field), offsetof(type, field))

inline void expect_same_layout(std::span<const real_layout> real, std::size_t our_size,
                               const std::map<std::string, Field>& ours) {
    ASSERT_FALSE(real.empty());
    EXPECT_EQ(real.front().size, our_size) << "sizeof";
    ASSERT_EQ(real.size() - 1, ours.size()) << "field count";
    for (const auto& field : real.subspan(1)) {
        auto it = ours.find(field.name);
        ASSERT_NE(it, ours.end()) << "missing field " << field.name;
        EXPECT_EQ(it->second.size, field.size) << field.name;
        EXPECT_EQ(it->second.offset, field.offset) << field.name;
    }
}

#define PVSIM_REAL(name) std::span(name##_layout, name##_layout_count)

}  // namespace pvsim::test
