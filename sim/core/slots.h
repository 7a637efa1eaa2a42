#pragma once
// Entities that come and go (instances, loads, migrations, batch slots) live in vectors indexed
// by dense ids; a freed id is reused, the last freed first, so ids stay below the peak in use.

#include <vector>

namespace slsim {

// An id of `items` to fill: the last one in `free_ids`, else a new default element's.
// `items` is a std::vector or an IdVector.
template <class Index, class Items>
Index reuse_or_append(Items& items, std::vector<Index>& free_ids) {
  if (!free_ids.empty()) {
    const Index id = free_ids.back();
    free_ids.pop_back();
    return id;
  }
  items.emplace_back();
  return static_cast<Index>(items.size() - 1);
}

}  // namespace slsim
