// "Did you mean": the nearest of a set of known words to a misspelt one,
// for the CLI's commands, options and DISKSPEC keys. Written here because
// CLI11 offers no suggestion of its own; the distance is the optimal string
// alignment one (Levenshtein plus the swap of two neighbours, the commonest
// typo), and a word is suggested only when it is close for its length.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pvsim {

// Edits (insert, delete, substitute, swap two neighbours) from a to b.
std::size_t spelling_distance(std::string_view a, std::string_view b);

// The known word nearest `word`, when at most max(1, length/3) edits
// away (ties: the first); nullopt when none is, or `word` is known.
std::optional<std::string> nearest_word(std::string_view word, std::span<const std::string> known);

// " (did you mean X?)" for nearest_word, else "".
std::string did_you_mean(std::string_view word, std::span<const std::string> known);

}  // namespace pvsim
