#include <metal_stdlib>
using namespace metal;
static inline float tg_hround(float x) { return float(half(x)); }
