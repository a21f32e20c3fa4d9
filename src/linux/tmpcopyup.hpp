// Copies a directory tree (regular files, directories, symlinks; modes and owners kept) from one
// directory fd to another: the content a tmpfs with the "tmpcopyup" option starts with.
#pragma once

#include "base/error.hpp"

namespace veil::tmpcopyup {

Result<> copy_tree(int from_dir, int to_dir);

}  // namespace veil::tmpcopyup
