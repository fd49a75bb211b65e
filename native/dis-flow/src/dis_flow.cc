// DIS optical flow (Kroeger et al., ECCV 2016) from OpenCV, exposed to Node through plain N-API
// C calls (node-addon-api is not a dependency, so nothing beyond Node's own headers is needed).
//
// Exports:
//   disFlow(curGray, prevGray, width, height, preset) -> Float32Array
//   disFlowAsync(curGray, prevGray, width, height, preset) -> Promise<Float32Array>
//   opencvVersion: string
// Inputs are 8-bit grey images, row-major (height x width). The result is OpenCV's flow from
// `curGray` to `prevGray`, interleaved (dx, dy) per pixel, row-major: pixel (y, x) of cur
// corresponds to (y + dy, x + dx) in prev. preset: 0 ULTRAFAST, 1 FAST, 2 MEDIUM.

#include <node_api.h>

#include <opencv2/core.hpp>
#include <opencv2/video/tracking.hpp>

#include <cstring>
#include <string>
#include <vector>

namespace {

struct Job {
  int width = 0;
  int height = 0;
  int preset = 1;
  // Copies of the inputs: the async variant runs off the JS thread, where the caller could
  // otherwise mutate or detach the typed arrays mid-computation.
  std::vector<unsigned char> cur;
  std::vector<unsigned char> prev;
  std::vector<float> flow;
  std::string error;
  napi_async_work work = nullptr;
  napi_deferred deferred = nullptr;
};

bool Check(napi_env env, napi_status status) {
  if (status == napi_ok) return true;
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (!pending) {
    const napi_extended_error_info* info = nullptr;
    napi_get_last_error_info(env, &info);
    napi_throw_error(env, nullptr, info && info->error_message ? info->error_message : "N-API call failed");
  }
  return false;
}

// Runs DIS; never throws (errors go to job->error) because it may run on a worker thread.
void Compute(Job* job) {
  try {
    const cv::Mat cur(job->height, job->width, CV_8UC1, job->cur.data());
    const cv::Mat prev(job->height, job->width, CV_8UC1, job->prev.data());
    job->flow.assign(static_cast<size_t>(job->width) * job->height * 2, 0.0f);
    // Wrapping the output vector lets calc() write in place: create() keeps a buffer whose size
    // and type already match.
    cv::Mat flow(job->height, job->width, CV_32FC2, job->flow.data());
    cv::Ptr<cv::DISOpticalFlow> dis = cv::DISOpticalFlow::create(job->preset);
    dis->calc(cur, prev, flow);
    if (flow.data != reinterpret_cast<unsigned char*>(job->flow.data())) {
      // Defensive: should OpenCV ever reallocate, copy back rather than return zeros.
      std::memcpy(job->flow.data(), flow.ptr<float>(), job->flow.size() * sizeof(float));
    }
  } catch (const cv::Exception& e) {
    job->error = std::string("OpenCV: ") + e.what();
  } catch (const std::exception& e) {
    job->error = e.what();
  }
}

napi_value MakeFloat32Array(napi_env env, const std::vector<float>& data) {
  void* bytes = nullptr;
  napi_value buffer;
  napi_value array;
  const size_t n = data.size();
  if (!Check(env, napi_create_arraybuffer(env, n * sizeof(float), &bytes, &buffer))) return nullptr;
  std::memcpy(bytes, data.data(), n * sizeof(float));
  if (!Check(env, napi_create_typedarray(env, napi_float32_array, n, buffer, 0, &array))) return nullptr;
  return array;
}

bool ReadGray(napi_env env, napi_value value, const char* name, size_t expected, std::vector<unsigned char>* out) {
  bool is_typed = false;
  if (!Check(env, napi_is_typedarray(env, value, &is_typed))) return false;
  napi_typedarray_type type;
  size_t length = 0;
  void* data = nullptr;
  if (is_typed && !Check(env, napi_get_typedarray_info(env, value, &type, &length, &data, nullptr, nullptr))) return false;
  if (!is_typed || (type != napi_uint8_array && type != napi_uint8_clamped_array)) {
    napi_throw_type_error(env, nullptr, (std::string(name) + " must be a Uint8Array").c_str());
    return false;
  }
  if (length != expected) {
    napi_throw_range_error(env, nullptr,
                           (std::string(name) + " has " + std::to_string(length) + " bytes, expected width*height = " +
                            std::to_string(expected))
                               .c_str());
    return false;
  }
  out->assign(static_cast<unsigned char*>(data), static_cast<unsigned char*>(data) + length);
  return true;
}

bool ReadInt(napi_env env, napi_value value, const char* name, int lo, int hi, int* out) {
  double d = 0;
  napi_valuetype t;
  if (!Check(env, napi_typeof(env, value, &t))) return false;
  if (t != napi_number || !Check(env, napi_get_value_double(env, value, &d)) || d != static_cast<int>(d) || d < lo ||
      d > hi) {
    napi_throw_range_error(
        env, nullptr,
        (std::string(name) + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]").c_str());
    return false;
  }
  *out = static_cast<int>(d);
  return true;
}

// Parses (curGray, prevGray, width, height, preset) into a new Job, or throws and returns null.
Job* ParseArgs(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (!Check(env, napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr))) return nullptr;
  if (argc < 5) {
    napi_throw_type_error(env, nullptr, "expected (curGray, prevGray, width, height, preset)");
    return nullptr;
  }
  Job* job = new Job();
  // 1 << 15 per side matches OpenCV's practical limits and keeps width*height in size_t range.
  if (!ReadInt(env, argv[2], "width", 1, 1 << 15, &job->width) ||
      !ReadInt(env, argv[3], "height", 1, 1 << 15, &job->height) ||
      !ReadInt(env, argv[4], "preset", 0, 2, &job->preset)) {
    delete job;
    return nullptr;
  }
  const size_t n = static_cast<size_t>(job->width) * job->height;
  if (!ReadGray(env, argv[0], "curGray", n, &job->cur) || !ReadGray(env, argv[1], "prevGray", n, &job->prev)) {
    delete job;
    return nullptr;
  }
  return job;
}

napi_value DisFlow(napi_env env, napi_callback_info info) {
  Job* job = ParseArgs(env, info);
  if (job == nullptr) return nullptr;
  Compute(job);
  napi_value result = nullptr;
  if (!job->error.empty()) {
    napi_throw_error(env, nullptr, job->error.c_str());
  } else {
    result = MakeFloat32Array(env, job->flow);
  }
  delete job;
  return result;
}

void ExecuteAsync(napi_env, void* data) { Compute(static_cast<Job*>(data)); }

void CompleteAsync(napi_env env, napi_status status, void* data) {
  Job* job = static_cast<Job*>(data);
  napi_value value = nullptr;
  if (status == napi_ok && job->error.empty()) value = MakeFloat32Array(env, job->flow);
  if (value != nullptr) {
    napi_resolve_deferred(env, job->deferred, value);
  } else {
    // Either DIS failed, the work was cancelled, or allocating the result threw; reject with
    // the pending exception when there is one so the message is not lost.
    napi_value err = nullptr;
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_get_and_clear_last_exception(env, &err);
    } else {
      napi_value msg;
      const std::string text = job->error.empty() ? "DIS flow was cancelled" : job->error;
      napi_create_string_utf8(env, text.c_str(), NAPI_AUTO_LENGTH, &msg);
      napi_create_error(env, nullptr, msg, &err);
    }
    napi_reject_deferred(env, job->deferred, err);
  }
  napi_delete_async_work(env, job->work);
  delete job;
}

napi_value DisFlowAsync(napi_env env, napi_callback_info info) {
  Job* job = ParseArgs(env, info);
  if (job == nullptr) return nullptr;
  napi_value promise;
  napi_value name;
  if (!Check(env, napi_create_promise(env, &job->deferred, &promise)) ||
      !Check(env, napi_create_string_utf8(env, "vprop:disFlow", NAPI_AUTO_LENGTH, &name)) ||
      !Check(env, napi_create_async_work(env, nullptr, name, ExecuteAsync, CompleteAsync, job, &job->work)) ||
      !Check(env, napi_queue_async_work(env, job->work))) {
    if (job->work != nullptr) napi_delete_async_work(env, job->work);
    delete job;  // the promise was never handed out, so nothing waits on it
    return nullptr;
  }
  return promise;
}

napi_value Init(napi_env env, napi_value exports) {
  napi_value version;
  napi_create_string_utf8(env, CV_VERSION, NAPI_AUTO_LENGTH, &version);
  napi_property_descriptor props[] = {
      {"disFlow", nullptr, DisFlow, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"disFlowAsync", nullptr, DisFlowAsync, nullptr, nullptr, nullptr, napi_enumerable, nullptr},
      {"opencvVersion", nullptr, nullptr, nullptr, nullptr, version, napi_enumerable, nullptr},
  };
  if (!Check(env, napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props))) return nullptr;
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
