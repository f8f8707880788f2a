// --config FILE for the commands that serve a volume (`mount`, `nbd`): every
// option of the command as one `key = value` line of an INI file, read with
// inih. The command line wins over the file.
//
//  - A key is an option's long name without the dashes, with '_' read as '-'
//    (cache-size = 1G, cache_size = 1G); `o` is a FUSE option; `store` and
//    `mountpoint` are the STORE and MOUNTPOINT arguments.
//  - A flag takes true/false (also yes/no, on/off, 1/0).
//  - Comments are lines starting with '#' or ';', and ' ; ...' after a value.
//  - `o` may repeat, and adds to the command line's -o options.
//  - Refused, naming FILE:LINE: an unknown key, a key given twice (but `o`),
//    a [section], a line that is not key = value, a line longer than 199
//    characters, `config` itself, a flag whose value is not one of those.
//  - STORE and MOUNTPOINT: when the file names either, the command line
//    gives all of the command's arguments or none (a lone argument could
//    not be told apart).
//  - The file must be a regular file not writable by group or others: it
//    says which credentials and passphrase files the daemon reads.
// Secrets have no keys; only the paths of the files holding them do.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

namespace s3bd {

// A positional argument of the command and the key that stands for it,
// e.g. {"STORE", "store"}.
using PositionalKeys = std::vector<std::pair<std::string, std::string>>;

// Adds --config FILE to `cmd`, storing the path in `path`.
void AddConfigFileOption(CLI::App& cmd, std::string& path);

// After cmd was parsed: gives each option the command line left unset its
// value from the file at `path`, as if it had been on the command line.
// Throws UsageError naming the file (and line) for anything wrong.
void ApplyConfigFile(CLI::App& cmd, const std::string& path, const PositionalKeys& positionals);

}  // namespace s3bd
