// common/spelling.hpp: the distance counts an adjacent swap as one edit, and
// a suggestion is made only when the word is close for its length.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "common/spelling.hpp"

namespace pvsim {
namespace spelling_test {

TEST(Spelling, AnAdjacentSwapIsOneEditAndOtherEditsCountOnce) {
    EXPECT_EQ(spelling_distance("acess", "access"), 1u);
    EXPECT_EQ(spelling_distance("tagret", "target"), 1u);
    EXPECT_EQ(spelling_distance("vdev", "vdev"), 0u);
    EXPECT_EQ(spelling_distance("", "abc"), 3u);
    EXPECT_EQ(spelling_distance("kitten", "sitting"), 3u);
    EXPECT_EQ(spelling_distance("abc", ""), 3u);
    EXPECT_EQ(spelling_distance("abcdef", "badcfe"), 3u);  // three swaps
    EXPECT_EQ(spelling_distance("ca", "abc"), 3u);         // optimal alignment: no edit of a swap
}

TEST(Spelling, OnlyACloseWordIsSuggested) {
    const std::vector<std::string> known = {"access", "target", "vdev", "--json"};
    EXPECT_EQ(nearest_word("acess", known), "access");
    EXPECT_EQ(nearest_word("--jsn", known), "--json");
    EXPECT_EQ(nearest_word("zzzzzz", known), std::nullopt);
    EXPECT_EQ(nearest_word("target", known), std::nullopt);  // known: nothing to suggest
    EXPECT_EQ(did_you_mean("tagret", known), " (did you mean target?)");
    EXPECT_EQ(did_you_mean("xyz", known), "");
    // One edit away by length alone is still measured; far longer is not
    // near anything.
    EXPECT_EQ(nearest_word("targe", known), "target");
    EXPECT_EQ(nearest_word(std::string(4000, 'x') + "target", known), std::nullopt);
}

}  // namespace spelling_test
}  // namespace pvsim
