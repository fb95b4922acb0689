#include "io/hdf5.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>

namespace saddlescope::io::h5 {
namespace {

// Collects the innermost (most specific) description from HDF5's error stack.
herr_t innermost_error(unsigned n, const H5E_error2_t* err, void* data) {
  auto* out = static_cast<std::string*>(data);
  if (n == 0 && err->desc != nullptr) *out = err->desc;
  return 0;
}

std::string hdf5_message() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, &message);
  H5Eclear2(H5E_DEFAULT);
  return message.empty() ? std::string("unknown HDF5 error") : message;
}

Handle make_space(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return Handle(check(H5Screate(H5S_SCALAR), "creating a scalar dataspace"), H5Sclose);
  return Handle(check(H5Screate_simple(static_cast<int>(dims.size()), dims.data(), nullptr), "creating a dataspace"),
                H5Sclose);
}

Handle utf8_string_type() {
  Handle type(check(H5Tcopy(H5T_C_S1), "copying the string type"), H5Tclose);
  check(H5Tset_size(type.get(), H5T_VARIABLE), "making a variable-length string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "setting UTF-8 on the string type");
  return type;
}

void replace_attribute(hid_t object, const std::string& name) {
  if (check(H5Aexists(object, name.c_str()), "checking attribute '" + name + "'") > 0)
    check(H5Adelete(object, name.c_str()), "replacing attribute '" + name + "'");
}

Handle open_attribute(hid_t object, const std::string& name) {
  if (!has_attribute(object, name)) throw Hdf5Error("attribute '" + name + "' is missing");
  return Handle(check(H5Aopen(object, name.c_str(), H5P_DEFAULT), "opening attribute '" + name + "'"), H5Aclose);
}

template <class T>
void write_numeric_attribute(hid_t object, const std::string& name, hid_t type, const T* values, std::size_t count,
                             bool scalar) {
  replace_attribute(object, name);
  Handle space = scalar ? make_space({}) : make_space({static_cast<hsize_t>(count)});
  Handle attr(check(H5Acreate2(object, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "creating attribute '" + name + "'"),
              H5Aclose);
  check(H5Awrite(attr.get(), type, values), "writing attribute '" + name + "'");
}

// Reads a scalar numeric attribute (any integer or float class) converted to `memtype`.
template <class T>
T read_numeric_attribute(hid_t object, const std::string& name, hid_t memtype, H5T_class_t wanted) {
  Handle attr = open_attribute(object, name);
  Handle space(check(H5Aget_space(attr.get()), "reading the shape of attribute '" + name + "'"), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw Hdf5Error("attribute '" + name + "' should hold one value");
  Handle type(check(H5Aget_type(attr.get()), "reading the type of attribute '" + name + "'"), H5Tclose);
  const H5T_class_t cls = H5Tget_class(type.get());
  if (cls != wanted && !(wanted == H5T_FLOAT && cls == H5T_INTEGER))
    throw Hdf5Error("attribute '" + name + "' has the wrong type");
  T value{};
  check(H5Aread(attr.get(), memtype, &value), "reading attribute '" + name + "'");
  return value;
}

Handle create_dataset(hid_t parent, const std::string& name, hid_t type, const std::vector<hsize_t>& dims) {
  Handle space = make_space(dims);
  return Handle(check(H5Dcreate2(parent, name.c_str(), type, space.get(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "creating dataset '" + name + "'"),
                H5Dclose);
}

// Opens a numeric dataset, checks its rank, class and total size, and returns it with its shape.
Handle open_checked(hid_t parent, const std::string& name, int rank, H5T_class_t cls, hsize_t max_elements,
                    std::vector<hsize_t>& shape) {
  if (!exists(parent, name)) throw Hdf5Error("dataset '" + name + "' is missing");
  Handle dataset = open_dataset(parent, name);
  shape = dataset_shape(dataset.get());
  if (static_cast<int>(shape.size()) != rank)
    throw Hdf5Error("dataset '" + name + "' has rank " + std::to_string(shape.size()) + ", expected " +
                    std::to_string(rank));
  const H5T_class_t actual = dataset_class(dataset.get());
  if (actual != cls && !(cls == H5T_FLOAT && actual == H5T_INTEGER))
    throw Hdf5Error("dataset '" + name + "' has the wrong element type (expected " +
                    (cls == H5T_FLOAT ? "floating point" : "integer") + ")");
  long double total = 1;
  for (hsize_t d : shape) total *= static_cast<long double>(d);
  if (total > static_cast<long double>(max_elements))
    throw Hdf5Error("dataset '" + name + "' holds " + std::to_string(static_cast<double>(total)) +
                    " elements, more than the " + std::to_string(max_elements) + " allowed");
  const std::string shortfall = storage_shortfall(dataset.get(), name);
  if (!shortfall.empty()) throw Hdf5Error(shortfall);
  return dataset;
}

// Reads the whole of an opened dataset (`elements` values, already checked against its shape) into
// `buffer` as `memory_type`; nothing to read for an empty one.
void read_all(const Handle& dataset, hid_t memory_type, void* buffer, hsize_t elements, const std::string& name) {
  if (elements > 0)
    check(H5Dread(dataset.get(), memory_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer), "reading dataset '" + name + "'");
}

}  // namespace

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    reset();
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = H5I_INVALID_HID;
  }
  return *this;
}

void Handle::reset() {
  if (id_ >= 0 && closer_ != nullptr) closer_(id_);
  id_ = H5I_INVALID_HID;
}

void silence_errors() {
  static std::once_flag once;
  std::call_once(once, [] { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); });
}

hid_t check(hid_t status, const std::string& what) {
  if (status < 0) throw Hdf5Error(what + ": " + hdf5_message());
  return status;
}

bool is_hdf5_file(const std::string& path) {
  // The HDF5 signature sits at offset 0, 512, 1024, ... (user block); we accept offset 0 and the
  // usual user-block offsets, reading at most a few KiB.
  static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  for (std::streamoff offset = 0; offset <= 4096; offset = offset == 0 ? 512 : offset * 2) {
    in.seekg(offset);
    unsigned char buffer[8] = {};
    if (!in.read(reinterpret_cast<char*>(buffer), 8)) return false;
    if (std::memcmp(buffer, signature, 8) == 0) return true;
  }
  return false;
}

Handle create_file(const std::string& path, bool swmr_compatible) {
  silence_errors();
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), "creating file-access properties"), H5Pclose);
  if (swmr_compatible)  // SWMR needs the 1.10 file format.
    check(H5Pset_libver_bounds(fapl.get(), H5F_LIBVER_LATEST, H5F_LIBVER_LATEST), "setting the file format");
  return Handle(check(H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), "creating " + path),
                H5Fclose);
}

Handle open_file(const std::string& path, bool read_write, bool swmr_read) {
  silence_errors();
  unsigned flags = read_write ? H5F_ACC_RDWR : H5F_ACC_RDONLY;
  if (swmr_read && !read_write) flags |= H5F_ACC_SWMR_READ;
  return Handle(check(H5Fopen(path.c_str(), flags, H5P_DEFAULT), "opening " + path), H5Fclose);
}

Handle open_group(hid_t parent, const std::string& name) {
  return Handle(check(H5Gopen2(parent, name.c_str(), H5P_DEFAULT), "opening group '" + name + "'"), H5Gclose);
}

Handle create_group(hid_t parent, const std::string& name) {
  return Handle(check(H5Gcreate2(parent, name.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                      "creating group '" + name + "'"),
                H5Gclose);
}

Handle open_dataset(hid_t parent, const std::string& name) {
  return Handle(check(H5Dopen2(parent, name.c_str(), H5P_DEFAULT), "opening dataset '" + name + "'"), H5Dclose);
}

bool exists(hid_t parent, const std::string& path) {
  // H5Lexists fails (rather than answering false) when an intermediate link is missing, so walk it.
  std::string prefix;
  std::size_t start = 0;
  while (start <= path.size()) {
    const std::size_t slash = path.find('/', start);
    const std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty()) {
      prefix += (prefix.empty() ? "" : "/") + part;
      const htri_t found = H5Lexists(parent, prefix.c_str(), H5P_DEFAULT);
      if (found <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return !prefix.empty();
}

bool has_attribute(hid_t object, const std::string& name) {
  return check(H5Aexists(object, name.c_str()), "checking attribute '" + name + "'") > 0;
}

void write_attribute(hid_t object, const std::string& name, const std::string& value) {
  replace_attribute(object, name);
  Handle type = utf8_string_type();
  Handle space = make_space({});
  Handle attr(check(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "creating attribute '" + name + "'"),
              H5Aclose);
  const char* text = value.c_str();
  check(H5Awrite(attr.get(), type.get(), &text), "writing attribute '" + name + "'");
}

void write_fixed_string_attribute(hid_t object, const std::string& name, const std::string& value, std::size_t bytes) {
  if (value.size() > bytes)
    throw std::invalid_argument("attribute '" + name + "': '" + value + "' is longer than " + std::to_string(bytes) +
                                " bytes");
  Handle type(check(H5Tcopy(H5T_C_S1), "copying the string type"), H5Tclose);
  check(H5Tset_size(type.get(), bytes), "sizing the string type");
  check(H5Tset_cset(type.get(), H5T_CSET_UTF8), "setting UTF-8 on the string type");
  check(H5Tset_strpad(type.get(), H5T_STR_NULLPAD), "setting the string padding");
  std::string padded = value;
  padded.resize(bytes, '\0');
  if (has_attribute(object, name)) {
    Handle attr = open_attribute(object, name);
    Handle stored(check(H5Aget_type(attr.get()), "reading the type of attribute '" + name + "'"), H5Tclose);
    if (check(H5Tequal(stored.get(), type.get()), "comparing string types") > 0) {
      check(H5Awrite(attr.get(), type.get(), padded.data()), "writing attribute '" + name + "'");  // in place
      return;
    }
  }
  replace_attribute(object, name);
  Handle space = make_space({});
  Handle attr(check(H5Acreate2(object, name.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT),
                    "creating attribute '" + name + "'"),
              H5Aclose);
  check(H5Awrite(attr.get(), type.get(), padded.data()), "writing attribute '" + name + "'");
}

void write_attribute(hid_t object, const std::string& name, std::int64_t value) {
  write_numeric_attribute(object, name, H5T_NATIVE_INT64, &value, 1, true);
}

void write_attribute(hid_t object, const std::string& name, double value) {
  write_numeric_attribute(object, name, H5T_NATIVE_DOUBLE, &value, 1, true);
}

void write_attribute(hid_t object, const std::string& name, const std::vector<double>& values) {
  write_numeric_attribute(object, name, H5T_NATIVE_DOUBLE, values.data(), values.size(), false);
}

std::string read_string_attribute(hid_t object, const std::string& name) {
  Handle attr = open_attribute(object, name);
  Handle type(check(H5Aget_type(attr.get()), "reading the type of attribute '" + name + "'"), H5Tclose);
  if (H5Tget_class(type.get()) != H5T_STRING) throw Hdf5Error("attribute '" + name + "' is not a string");
  Handle space(check(H5Aget_space(attr.get()), "reading the shape of attribute '" + name + "'"), H5Sclose);
  if (H5Sget_simple_extent_npoints(space.get()) != 1)
    throw Hdf5Error("attribute '" + name + "' should hold one string");
  const htri_t variable = check(H5Tis_variable_str(type.get()), "inspecting attribute '" + name + "'");
  if (variable > 0) {
    Handle memtype = utf8_string_type();
    char* text = nullptr;
    const herr_t status = H5Aread(attr.get(), memtype.get(), &text);
    std::string value = status >= 0 && text != nullptr ? text : "";
    H5free_memory(text);  // also after a failed read: libhdf5 may have allocated the string before failing
    check(status, "reading attribute '" + name + "'");
    return value;
  }
  // Fixed-length strings (as some writers produce): read the declared size, trim at the first NUL.
  const std::size_t size = H5Tget_size(type.get());
  if (size == 0 || size > (std::size_t{1} << 24)) throw Hdf5Error("attribute '" + name + "' has an absurd size");
  Handle memtype(check(H5Tcopy(H5T_C_S1), "copying the string type"), H5Tclose);
  check(H5Tset_size(memtype.get(), size), "sizing the string type");
  // HDF5 converts no fixed-length string between character sets: read in the file's own (ASCII or UTF-8).
  check(H5Tset_cset(memtype.get(), H5Tget_cset(type.get())), "setting the character set");
  // NUL-padded in memory, not NUL-terminated (HDF5's default for H5T_C_S1): converting a full-width
  // NUL-padded string (h5py's np.bytes_, which stores "abc" as exactly 3 bytes) into a NUL-terminated
  // one of the same size keeps room for the terminator and drops the last character (issue #17, 12).
  check(H5Tset_strpad(memtype.get(), H5T_STR_NULLPAD), "setting the string padding");
  std::string buffer(size, '\0');
  check(H5Aread(attr.get(), memtype.get(), buffer.data()), "reading attribute '" + name + "'");
  buffer.resize(std::strlen(buffer.c_str()));  // `size` bytes and no NUL: the whole buffer
  return buffer;
}

std::int64_t read_int_attribute(hid_t object, const std::string& name) {
  return read_numeric_attribute<std::int64_t>(object, name, H5T_NATIVE_INT64, H5T_INTEGER);
}

double read_double_attribute(hid_t object, const std::string& name) {
  return read_numeric_attribute<double>(object, name, H5T_NATIVE_DOUBLE, H5T_FLOAT);
}

void write_vector(hid_t parent, const std::string& name, const Eigen::VectorXd& values) {
  Handle dataset = create_dataset(parent, name, H5T_IEEE_F64LE, {static_cast<hsize_t>(values.size())});
  check(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
        "writing dataset '" + name + "'");
}

void write_matrix(hid_t parent, const std::string& name, const Eigen::MatrixXd& values) {
  Handle dataset = create_dataset(parent, name, H5T_IEEE_F64LE,
                                  {static_cast<hsize_t>(values.rows()), static_cast<hsize_t>(values.cols())});
  const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = values;
  check(H5Dwrite(dataset.get(), H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, row_major.data()),
        "writing dataset '" + name + "'");
}

void write_int_vector(hid_t parent, const std::string& name, const std::vector<std::int64_t>& values) {
  Handle dataset = create_dataset(parent, name, H5T_STD_I64LE, {static_cast<hsize_t>(values.size())});
  check(H5Dwrite(dataset.get(), H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, values.data()),
        "writing dataset '" + name + "'");
}

void write_bytes(hid_t parent, const std::string& name, const std::string& bytes) {
  Handle dataset = create_dataset(parent, name, H5T_STD_U8LE, {static_cast<hsize_t>(bytes.size())});
  if (!bytes.empty())
    check(H5Dwrite(dataset.get(), H5T_NATIVE_UCHAR, H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data()),
          "writing dataset '" + name + "'");
}

void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values) {
  Handle type = utf8_string_type();
  Handle dataset = create_dataset(parent, name, type.get(), {static_cast<hsize_t>(values.size())});
  std::vector<const char*> pointers;
  pointers.reserve(values.size());
  for (const auto& v : values) pointers.push_back(v.c_str());
  check(H5Dwrite(dataset.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, pointers.data()),
        "writing dataset '" + name + "'");
}

std::string storage_shortfall(hid_t dataset, const std::string& name) {
  Handle dcpl(check(H5Dget_create_plist(dataset), "reading the properties of dataset '" + name + "'"), H5Pclose);
  if (H5Pget_layout(dcpl.get()) == H5D_VIRTUAL) return "";
  Handle type(check(H5Dget_type(dataset), "reading the type of dataset '" + name + "'"), H5Tclose);
  Handle space(check(H5Dget_space(dataset), "reading the shape of dataset '" + name + "'"), H5Sclose);
  const hssize_t elements = H5Sget_simple_extent_npoints(space.get());
  if (elements <= 0) return "";
  const long double declared = static_cast<long double>(elements) * static_cast<long double>(H5Tget_size(type.get()));
  const long double stored = static_cast<long double>(H5Dget_storage_size(dataset));
  const int filters = H5Pget_nfilters(dcpl.get());
  const long double can_hold = filters > 0 ? stored * kMaxCompressionRatio : stored;
  if (can_hold >= declared) return "";
  std::string full = name;  // the dataset's path in the file, so the message names it whatever group it is in
  char path[256] = {};
  const ssize_t length = H5Iget_name(dataset, path, sizeof path);
  if (length > 0 && static_cast<std::size_t>(length) < sizeof path) full = path;
  auto bytes = [](long double b) {
    char text[32];
    std::snprintf(text, sizeof text, "%.0Lf", b);
    return std::string(text);
  };
  return "dataset '" + full + "' declares " + bytes(declared) + " bytes but the file stores only " + bytes(stored) +
         " bytes of it" + (filters > 0 ? " (behind a filter: beyond any real compression ratio)" : " (never written)") +
         "; refused before reading";
}

std::vector<hsize_t> dataset_shape(hid_t dataset) {
  Handle space(check(H5Dget_space(dataset), "reading a dataset's shape"), H5Sclose);
  const int rank = check(H5Sget_simple_extent_ndims(space.get()), "reading a dataset's rank");
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), "reading a dataset's shape");
  return dims;
}

H5T_class_t dataset_class(hid_t dataset) {
  Handle type(check(H5Dget_type(dataset), "reading a dataset's type"), H5Tclose);
  return H5Tget_class(type.get());
}

Eigen::VectorXd read_vector(hid_t parent, const std::string& name, hsize_t max_elements) {
  std::vector<hsize_t> shape;
  Handle dataset = open_checked(parent, name, 1, H5T_FLOAT, max_elements, shape);
  Eigen::VectorXd values(static_cast<Eigen::Index>(shape[0]));
  read_all(dataset, H5T_NATIVE_DOUBLE, values.data(), shape[0], name);
  return values;
}

Eigen::MatrixXd read_matrix(hid_t parent, const std::string& name, hsize_t max_elements) {
  std::vector<hsize_t> shape;
  Handle dataset = open_checked(parent, name, 2, H5T_FLOAT, max_elements, shape);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> values(
      static_cast<Eigen::Index>(shape[0]), static_cast<Eigen::Index>(shape[1]));
  read_all(dataset, H5T_NATIVE_DOUBLE, values.data(), static_cast<hsize_t>(values.size()), name);
  return values;
}

Eigen::MatrixXd read_matrix_rows(hid_t parent, const std::string& name, hsize_t max_elements, std::int64_t begin,
                                 std::int64_t end, std::int64_t* total_rows) {
  std::vector<hsize_t> shape;
  Handle dataset = open_checked(parent, name, 2, H5T_FLOAT, max_elements, shape);
  if (total_rows) *total_rows = static_cast<std::int64_t>(shape[0]);
  if (begin < 0 || end < begin || static_cast<hsize_t>(end) > shape[0])
    throw Hdf5Error("dataset '" + name + "' has " + std::to_string(shape[0]) + " rows; rows [" + std::to_string(begin) +
                    ", " + std::to_string(end) + ") are not inside it");
  const hsize_t rows = static_cast<hsize_t>(end - begin);
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> values(static_cast<Eigen::Index>(rows),
                                                                               static_cast<Eigen::Index>(shape[1]));
  if (values.size() > 0) {
    const hsize_t start[2] = {static_cast<hsize_t>(begin), 0};
    const hsize_t count[2] = {rows, shape[1]};
    Handle file_space(check(H5Dget_space(dataset.get()), "dataspace of '" + name + "'"), H5Sclose);
    check(H5Sselect_hyperslab(file_space.get(), H5S_SELECT_SET, start, nullptr, count, nullptr),
          "selecting rows of '" + name + "'");
    Handle memory_space(check(H5Screate_simple(2, count, nullptr), "memory space for '" + name + "'"), H5Sclose);
    check(H5Dread(dataset.get(), H5T_NATIVE_DOUBLE, memory_space.get(), file_space.get(), H5P_DEFAULT, values.data()),
          "reading rows of dataset '" + name + "'");
  }
  return values;
}

std::vector<std::int64_t> read_int_vector(hid_t parent, const std::string& name, hsize_t max_elements) {
  std::vector<hsize_t> shape;
  Handle dataset = open_checked(parent, name, 1, H5T_INTEGER, max_elements, shape);
  std::vector<std::int64_t> values(shape[0]);
  read_all(dataset, H5T_NATIVE_INT64, values.data(), values.size(), name);
  return values;
}

std::string read_bytes(hid_t parent, const std::string& name, hsize_t max_bytes) {
  std::vector<hsize_t> shape;
  Handle dataset = open_checked(parent, name, 1, H5T_INTEGER, max_bytes, shape);
  Handle type(H5Dget_type(dataset.get()), H5Tclose);
  check(type.get(), "reading the type of dataset '" + name + "'");
  if (H5Tget_size(type.get()) != 1) throw Hdf5Error("dataset '" + name + "' must hold bytes (uint8)");
  std::string bytes(shape[0], '\0');
  read_all(dataset, H5T_NATIVE_UCHAR, bytes.data(), bytes.size(), name);
  return bytes;
}

}  // namespace saddlescope::io::h5
