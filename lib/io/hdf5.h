#pragma once
// Thin RAII layer over the HDF5 C API. Every call is checked; a failure becomes an Hdf5Error whose
// message carries HDF5's own innermost error description. HDF5's automatic printing to stderr is
// silenced once per process (the library never prints).
//
// Conventions: strings are UTF-8 variable-length; numeric data is float64 or int64, row-major as HDF5
// stores it (an Eigen column-major matrix of shape r×c is written as an HDF5 dataset [r, c]).
#include <hdf5.h>

#include <Eigen/Core>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace saddlescope::io::h5 {

class Hdf5Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Owns one hid_t and closes it with the right H5?close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) { other.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& other) noexcept;
  ~Handle() { reset(); }
  void reset();
  // Gives up ownership without closing (the caller closes and checks the status).
  hid_t release() noexcept {
    const hid_t id = id_;
    id_ = H5I_INVALID_HID;
    return id;
  }
  hid_t get() const noexcept { return id_; }
  bool valid() const noexcept { return id_ >= 0; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Turns HDF5's automatic error printing off (idempotent, thread-safe).
void silence_errors();
// Throws Hdf5Error("<what>: <HDF5's innermost message>") when status < 0; returns status otherwise.
hid_t check(hid_t status, const std::string& what);

// True when `path` starts with HDF5's signature (H5Fis_hdf5 without its stderr noise).
bool is_hdf5_file(const std::string& path);

Handle create_file(const std::string& path, bool swmr_compatible = false);
Handle open_file(const std::string& path, bool read_write = false, bool swmr_read = false);
Handle open_group(hid_t parent, const std::string& name);
Handle create_group(hid_t parent, const std::string& name);
Handle open_dataset(hid_t parent, const std::string& name);
bool exists(hid_t parent, const std::string& path);  // every link on `path` is checked in turn
bool has_attribute(hid_t object, const std::string& name);

// Attributes on any object.
void write_attribute(hid_t object, const std::string& name, const std::string& value);
void write_attribute(hid_t object, const std::string& name, std::int64_t value);
void write_attribute(hid_t object, const std::string& name, double value);
void write_attribute(hid_t object, const std::string& name, const std::vector<double>& values);
// A fixed-length UTF-8 string of `bytes` bytes (NUL-padded; `value` must fit). Rewriting an existing
// attribute of that type writes the new value in place: no delete, no new heap object, so a rewrite
// on a full disk cannot leave the attribute unreadable (the run log's `status`).
void write_fixed_string_attribute(hid_t object, const std::string& name, const std::string& value, std::size_t bytes);
// Reads variable-length and fixed-length strings (trimmed at the first NUL).
std::string read_string_attribute(hid_t object, const std::string& name);
std::int64_t read_int_attribute(hid_t object, const std::string& name);
double read_double_attribute(hid_t object, const std::string& name);

// Datasets (fixed size).
void write_vector(hid_t parent, const std::string& name, const Eigen::VectorXd& values);
void write_matrix(hid_t parent, const std::string& name, const Eigen::MatrixXd& values);
void write_int_vector(hid_t parent, const std::string& name, const std::vector<std::int64_t>& values);
void write_strings(hid_t parent, const std::string& name, const std::vector<std::string>& values);
// Opaque bytes (e.g. a serialized ONNX model) as a 1-D uint8 dataset.
void write_bytes(hid_t parent, const std::string& name, const std::string& bytes);

// Shape of a dataset (one entry per dimension) and whether its element class is floating point or
// integer. Readers call these before allocating anything.
std::vector<hsize_t> dataset_shape(hid_t dataset);
H5T_class_t dataset_class(hid_t dataset);

// "" when the bytes `dataset` stores in the file can hold what its shape declares; otherwise why not.
// A small file can declare a huge dataset: chunks never written read as fill values, and a filter
// (deflate) expands a few bytes into gigabytes. Reading such a dataset costs its declared size in
// memory and time before anything can refuse it (issue #17, item 19: a 14 KB file declaring a 2 GiB
// /data/X). Unfiltered data must be stored in full; filtered data within kMaxCompressionRatio (deflate
// cannot exceed 1032:1, its longest match over its shortest code). Virtual datasets store nothing of
// their own and are not judged here (only the run log's own views are accepted, io/reader.h).
inline constexpr double kMaxCompressionRatio = 1100.0;
std::string storage_shortfall(hid_t dataset, const std::string& name);

// Readers check rank and class and refuse sizes above `max_elements` before allocating, and datasets
// whose stored bytes cannot hold their declared size (storage_shortfall).
Eigen::VectorXd read_vector(hid_t parent, const std::string& name, hsize_t max_elements);
Eigen::MatrixXd read_matrix(hid_t parent, const std::string& name, hsize_t max_elements);
// Rows [begin, end) of a 2-D dataset, by a hyperslab read (only those rows are read and allocated).
// `max_elements` bounds the whole dataset as for read_matrix; `total_rows` receives its row count.
// Throws Hdf5Error when the range is not inside the dataset.
Eigen::MatrixXd read_matrix_rows(hid_t parent, const std::string& name, hsize_t max_elements, std::int64_t begin,
                                 std::int64_t end, std::int64_t* total_rows);
std::vector<std::int64_t> read_int_vector(hid_t parent, const std::string& name, hsize_t max_elements);
// A 1-D integer dataset of one-byte elements, refused above `max_bytes` before allocating.
std::string read_bytes(hid_t parent, const std::string& name, hsize_t max_bytes);

}  // namespace saddlescope::io::h5
