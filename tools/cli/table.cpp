#include "tools/cli/table.hpp"

#include <algorithm>
#include <stdexcept>

namespace pvsim::tools::cli {

Table::Table(std::vector<std::string> headers) {
    for (std::string& header : headers) {
        const bool right = !header.empty() && header.front() == '>';
        right_.push_back(right);
        headers_.push_back(right ? header.substr(1) : header);
    }
}

void Table::add(std::vector<std::string> row) {
    if (row.size() != headers_.size()) {
        throw std::logic_error("table row of " + std::to_string(row.size()) + " cells, expected " +
                               std::to_string(headers_.size()));
    }
    rows_.push_back(std::move(row));
}

std::string Table::render() const {
    std::vector<std::size_t> width(headers_.size());
    for (std::size_t c = 0; c < headers_.size(); ++c) {
        width[c] = headers_[c].size();
        for (const auto& row : rows_) {
            width[c] = std::max(width[c], row[c].size());
        }
    }
    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (std::size_t c = 0; c < cells.size(); ++c) {
            const std::string pad(width[c] - cells[c].size(), ' ');
            const bool last = c + 1 == cells.size();
            text += right_[c] ? pad + cells[c] : cells[c] + (last ? "" : pad);
            if (!last) {
                text += "  ";
            }
        }
        return text + "\n";
    };
    std::string text = line(headers_);
    for (const auto& row : rows_) {
        text += line(row);
    }
    return text;
}

}  // namespace pvsim::tools::cli
