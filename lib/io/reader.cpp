#include "io/reader.h"

#include "io/error.h"
#include "io/file_checks.h"
#include "io/guard.h"
#include "io/provenance_file.h"
#include "io/run_log.h"

namespace saddlescope::io {

OpenedFile open_saddlescope_file(const std::string& path, const std::string& format, std::int64_t newest_supported,
                                 bool swmr_read) {
  require_regular_input(path);  // before any open(2): a FIFO would block it for ever
  if (!h5::is_hdf5_file(path)) throw FileError(path, "not an HDF5 file");
  // A corrupt file can crash or hang libhdf5 itself: a child process reads it first (io/guard.h).
  check_hdf5_file_survives_reading(path, swmr_read);
  OpenedFile opened;
  try {
    opened.handle = h5::open_file(path, false, swmr_read);
  } catch (const h5::Hdf5Error& e) {
    throw FileError(path, std::string("cannot be opened (truncated or damaged HDF5?): ") + e.what());
  }
  opened.header = read_and_check_header(opened.handle.get(), path, format, newest_supported);
  check_self_contained(opened.handle.get(), path, format == kRunLogFormat);
  return opened;
}

namespace {

struct ContainmentWalk {
  bool own_views = false;
  std::string problem;  // the first reference out of the file, empty while none is found
};

// Why the dataset `name` (open as `object`) reaches outside the file, or "" when it does not.
std::string outside_reference(hid_t object, const std::string& name, bool own_views) {
  h5::Handle dcpl(h5::check(H5Dget_create_plist(object), "reading the creation properties of '" + name + "'"),
                  H5Pclose);
  const int external = H5Pget_external_count(dcpl.get());
  if (external != 0) return "dataset '/" + name + "' keeps its data in external files (HDF5 external storage)";
  if (H5Pget_layout(dcpl.get()) != H5D_VIRTUAL) return "";
  if (!own_views) return "dataset '/" + name + "' is a virtual dataset (it maps data from other datasets or files)";
  size_t count = 0;
  h5::check(H5Pget_virtual_count(dcpl.get(), &count), "reading the mappings of '" + name + "'");
  for (size_t i = 0; i < count; ++i) {
    char file[8] = {};
    char source[64] = {};
    const ssize_t file_length = H5Pget_virtual_filename(dcpl.get(), i, file, sizeof file);
    const ssize_t source_length = H5Pget_virtual_dsetname(dcpl.get(), i, source, sizeof source);
    const bool own = file_length == 1 && std::string(file) == "." && source_length > 0 &&
                     static_cast<std::size_t>(source_length) < sizeof source &&
                     std::string(source).rfind("/_tables/", 0) == 0;
    if (!own)
      return "virtual dataset '/" + name + "' maps data from outside this file's /_tables (mapping " +
             std::to_string(i) + ")";
  }
  return "";
}

herr_t containment_callback(hid_t group, const char* name, const H5L_info_t* info, void* data) {
  auto* walk = static_cast<ContainmentWalk*>(data);
  if (info->type == H5L_TYPE_EXTERNAL) {
    walk->problem = "'/" + std::string(name) + "' is an external link (to an object in another file)";
    return 1;
  }
  if (info->type != H5L_TYPE_HARD && info->type != H5L_TYPE_SOFT) {
    walk->problem = "'/" + std::string(name) + "' is a user-defined link (type " + std::to_string(info->type) + ")";
    return 1;
  }
  if (info->type == H5L_TYPE_SOFT) return 0;  // its target is reached through hard links, or is missing
  H5O_info_t object_info;
  if (H5Oget_info_by_name2(group, name, &object_info, H5O_INFO_BASIC, H5P_DEFAULT) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return 0;  // unreadable object: the readers report it when they need it
  }
  if (object_info.type != H5O_TYPE_DATASET) return 0;
  try {
    h5::Handle object(h5::check(H5Oopen(group, name, H5P_DEFAULT), "opening '" + std::string(name) + "'"), H5Oclose);
    walk->problem = outside_reference(object.get(), name, walk->own_views);
  } catch (const h5::Hdf5Error&) {  // as above
  }
  return walk->problem.empty() ? 0 : 1;
}

}  // namespace

void check_self_contained(hid_t file, const std::string& path, bool own_views) {
  ContainmentWalk walk;
  walk.own_views = own_views;
  if (H5Lvisit(file, H5_INDEX_NAME, H5_ITER_NATIVE, containment_callback, &walk) < 0) {
    H5Eclear2(H5E_DEFAULT);
    if (walk.problem.empty()) throw FileError(path, "cannot be walked (damaged group structure)");
  }
  if (!walk.problem.empty())
    throw FileError(path, walk.problem + ": refused, a file given to saddlescope may not reach outside itself");
}

namespace {
herr_t collect_name(hid_t, const char* name, const H5L_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> list_links(hid_t group) {
  std::vector<std::string> names;
  h5::check(H5Literate(group, H5_INDEX_NAME, H5_ITER_INC, nullptr, collect_name, &names), "listing a group");
  return names;
}

}  // namespace saddlescope::io
