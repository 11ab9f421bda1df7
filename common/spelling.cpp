#include "common/spelling.hpp"

#include <algorithm>
#include <vector>

namespace pvsim {

std::size_t spelling_distance(std::string_view a, std::string_view b) {
    // Row i of the table holds the distances between a's first i and b's
    // first j characters; only three rows are alive at once (the swap looks
    // two rows back), so a long word costs three allocations, not one per
    // character of it.
    const std::size_t width = b.size() + 1;
    std::vector<std::size_t> two_back(width);
    std::vector<std::size_t> one_back(width);
    std::vector<std::size_t> row(width);
    for (std::size_t j = 0; j < width; ++j) {
        one_back[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        row[0] = i;
        for (std::size_t j = 1; j < width; ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({one_back[j] + 1, row[j - 1] + 1, one_back[j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) {
                row[j] = std::min(row[j], two_back[j - 2] + 1);
            }
        }
        std::swap(two_back, one_back);
        std::swap(one_back, row);
    }
    return one_back[b.size()];
}

std::optional<std::string> nearest_word(std::string_view word, std::span<const std::string> known) {
    const std::size_t allowed = std::max<std::size_t>(1, word.size() / 3);
    std::optional<std::string> best;
    std::size_t best_distance = allowed + 1;
    for (const std::string& candidate : known) {
        if (candidate == word) {
            return std::nullopt;
        }
        // The distance is at least the difference in length: a candidate
        // that far off cannot be nearer, so it is not measured (a fuzzed
        // DISKSPEC with a 4 KiB unknown key measured every key against it).
        const std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size()
                                                               : candidate.size() - word.size();
        if (gap >= best_distance) {
            continue;
        }
        const std::size_t distance = spelling_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = candidate;
        }
    }
    return best;
}

std::string did_you_mean(std::string_view word, std::span<const std::string> known) {
    const auto nearest = nearest_word(word, known);
    return nearest ? " (did you mean " + *nearest + "?)" : "";
}

}  // namespace pvsim
