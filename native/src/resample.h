// Separable resampling of RGB pixels for image_ops.cc: a triangle (bilinear) filter whose support widens with
// the reduction. A header of its own so that a standalone harness can compare it, bit for bit, with another
// implementation (the pixels are part of the decoded-image cache's contract: any change must be deliberate).
//
// This is antialiased bilinear (Pillow's BILINEAR, libvips' reduce with the linear kernel); for enlargement it
// is plain bilinear interpolation with pixel centres at +0.5, as libvips' affine upsizing.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <type_traits>
#include <vector>

// ABLATE_RESAMPLE_SIMD: the SSE2 kernels (x86-64 always has SSE2); elsewhere, or with ABLATE_RESAMPLE_NO_SIMD
// (the harness that checks both), the portable loops, which give the same bytes.
#if defined(__SSE2__) && !defined(ABLATE_RESAMPLE_NO_SIMD)
#define ABLATE_RESAMPLE_SIMD 1
#include <emmintrin.h>
#endif

namespace ablate_resample {

constexpr int kBits = 14;

struct Taps {
  std::vector<int> start, count;
  std::vector<int32_t> w;  // `stride` weights per output pixel, kBits fixed point
  int stride = 0;
};

// Output pixel i is centred at input position (i + offset + 0.5) * scale + shift (in pixel-edge units), where
// `scale` is input pixels per output pixel (the factor libvips is given, not in/out: they differ after rounding),
// `shift` centres the rounded resized image on the input as libvips does, and `offset` is where a crop starts in
// the resized image (0 for stretch). Enlarging uses libvips' affine convention instead, (i + offset) * scale:
// half a pixel of shift is a visible difference at these sizes.
inline Taps make_taps(int in, int out, double scale, int offset) {
  Taps t;
  const bool up = scale < 1.0;
  const double fs = up ? 1.0 : scale;
  const double support = fs;
  const double shift = (in - std::rint(in / scale) * scale) / 2;
  t.stride = static_cast<int>(std::ceil(support)) * 2 + 1;
  t.start.resize(out);
  t.count.resize(out);
  t.w.assign(static_cast<size_t>(out) * t.stride, 0);
  std::vector<double> tmp(t.stride);
  for (int i = 0; i < out; i++) {
    const double centre = (i + offset + (up ? 0.0 : 0.5)) * scale + shift;
    int lo = static_cast<int>(centre - support + 0.5);
    int hi = static_cast<int>(centre + support + 0.5);
    if (lo < 0) lo = 0;
    if (hi > in) hi = in;
    if (hi - lo > t.stride) hi = lo + t.stride;
    double sum = 0;
    for (int x = lo; x < hi; x++) {
      double d = std::fabs((x - centre + 0.5) / fs);
      double v = d < 1.0 ? 1.0 - d : 0.0;
      tmp[x - lo] = v;
      sum += v;
    }
    if (sum <= 0) {  // centre beyond the edge by rounding: nearest pixel
      lo = centre < 0.5 ? 0 : in - 1;
      hi = lo + 1;
      tmp[0] = sum = 1;
    }
    t.start[i] = lo;
    t.count[i] = hi - lo;
    // Rounded weights that still add up to exactly 1 << kBits, so flat areas stay exactly flat.
    int32_t* w = &t.w[static_cast<size_t>(i) * t.stride];
    int32_t total = 0, biggest = 0;
    for (int k = 0; k < hi - lo; k++) {
      w[k] = static_cast<int32_t>(std::lround(tmp[k] / sum * (1 << kBits)));
      total += w[k];
      if (w[k] > w[biggest]) biggest = k;
    }
    w[biggest] += (1 << kBits) - total;
  }
  return t;
}

inline uint8_t clamp_u8(int32_t acc) {
  int32_t v = (acc + (1 << (kBits - 1))) >> kBits;
  return static_cast<uint8_t>(v < 0 ? 0 : v > 255 ? 255 : v);
}

// The same taps laid out for loops of one fixed length: every output pixel reads `k` inputs from start
// (start + k <= in), the filter's weights where it had them and zeros elsewhere. The sums are integers, so the
// extra zero terms change nothing.
struct FixedTaps {
  int k = 0;
  std::vector<int> start;
  std::vector<int32_t> w;  // k per output pixel
};

inline FixedTaps fix_taps(const Taps& t, int in) {
  FixedTaps f;
  const int out = static_cast<int>(t.start.size());
  for (int i = 0; i < out; i++) f.k = std::max(f.k, t.count[i]);  // <= in: every window lies inside the input
  f.start.resize(out);
  f.w.assign(static_cast<size_t>(out) * f.k, 0);
  for (int i = 0; i < out; i++) {
    const int s = std::min(t.start[i], in - f.k);
    f.start[i] = s;
    const int32_t* src = &t.w[static_cast<size_t>(i) * t.stride];
    int32_t* dst = &f.w[static_cast<size_t>(i) * f.k + (t.start[i] - s)];
    for (int j = 0; j < t.count[i]; j++) dst[j] = src[j];
  }
  return f;
}

// One row, horizontally: out[i] = sum over k taps of row[start[i] + j] * w[i][j], per channel.
// K > 0: the tap count known at compile time (unrolled); K == 0: `k` at run time.
template <int K>
void resample_row(const uint8_t* __restrict row, const int* __restrict start, const int32_t* __restrict w, uint8_t* __restrict out, int ow, int k) {
  const int n = K > 0 ? K : k;
  for (int i = 0; i < ow; i++, w += n) {
    const uint8_t* __restrict p = row + start[i] * 3;
    int32_t r = 0, g = 0, b = 0;
    for (int j = 0; j < n; j++) {
      r += p[j * 3] * w[j];
      g += p[j * 3 + 1] * w[j];
      b += p[j * 3 + 2] * w[j];
    }
    out[i * 3] = clamp_u8(r);
    out[i * 3 + 1] = clamp_u8(g);
    out[i * 3 + 2] = clamp_u8(b);
  }
}

// One output row, vertically: out[c] = sum over k rows of rows[j][c] * w[j].
template <int K>
void resample_column(const uint8_t* const* rows, const int32_t* w, uint8_t* __restrict out, size_t n, int k) {
  if (K > 0) {
    const uint8_t* __restrict r[K > 0 ? K : 1];
    int32_t wk[K > 0 ? K : 1];
    for (int j = 0; j < K; j++) r[j] = rows[j], wk[j] = w[j];
    for (size_t c = 0; c < n; c++) {
      int32_t acc = 0;
      for (int j = 0; j < K; j++) acc += r[j][c] * wk[j];
      out[c] = clamp_u8(acc);
    }
  } else {
    for (size_t c = 0; c < n; c++) {
      int32_t acc = 0;
      for (int j = 0; j < k; j++) acc += rows[j][c] * w[j];
      out[c] = clamp_u8(acc);
    }
  }
}

#if defined(ABLATE_RESAMPLE_SIMD)
// The same sums with SSE2's pmaddwd (16 × 16-bit products, added in pairs into 32 bits: exact, as the weights
// fit in 16 bits), two taps at a time. Taps are paired (2q, 2q + 1); `w16` holds per output pixel, per pair, the eight
// int16s {w0, w1} four times, 0 for the padding tap of an odd count (lane 3 of the sum is not used).
//
// Reads 8 bytes at p + 6q for each pair q: up to 5 bytes past the last input pixel a row's window can reach, so
// the caller hands in rows with that much readable memory after them. Writes 4 bytes per output pixel (the 4th,
// from the unused lane, is the next pixel's, written after it): `out` needs one byte of slack after the row.
template <int P>
void resample_row_sse2(const uint8_t* row, const int* __restrict start, const int16_t* __restrict w16, uint8_t* out, int ow, int pairs) {
  const int np = P > 0 ? P : pairs;
  const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(1 << (kBits - 1));
  for (int i = 0; i < ow; i++, w16 += 8 * np) {
    const uint8_t* p = row + start[i] * 3;
    __m128i acc = zero;
    for (int q = 0; q < np; q++) {
      // {r0 g0 b0 r1 g1 b1 r2 g2} → {r0 r1 g0 g1 b0 b1 r1 r2}
      const __m128i x = _mm_unpacklo_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 6 * q)), zero);
      const __m128i t = _mm_unpacklo_epi16(x, _mm_srli_si128(x, 6));
      acc = _mm_add_epi32(acc, _mm_madd_epi16(t, _mm_loadu_si128(reinterpret_cast<const __m128i*>(w16 + 8 * q))));
    }
    // clamp_u8 on each lane: the two saturating packs clamp to [0, 255] exactly as it does.
    acc = _mm_srai_epi32(_mm_add_epi32(acc, half), kBits);
    const int32_t v = _mm_cvtsi128_si32(_mm_packus_epi16(_mm_packs_epi32(acc, zero), zero));
    std::memcpy(out + 3 * static_cast<size_t>(i), &v, 4);
  }
}

// Vertically, rows paired as the taps are: `rows` holds 2 * P row pointers (the padding one any readable row,
// its weight 0), `w16` per pair the eight int16s {w0, w1, w0, w1, ...}.
template <int P>
void resample_column_sse2(const uint8_t* const* rows, const int16_t* w16, uint8_t* out, size_t n, int pairs) {
  const int np = P > 0 ? P : pairs;
  const __m128i zero = _mm_setzero_si128(), half = _mm_set1_epi32(1 << (kBits - 1));
  size_t c = 0;
  for (; c + 16 <= n; c += 16) {
    __m128i a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    for (int q = 0; q < np; q++) {
      const __m128i w = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w16 + 8 * q));
      const __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2 * q] + c));
      const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rows[2 * q + 1] + c));
      const __m128i lo = _mm_unpacklo_epi8(x, y), hi = _mm_unpackhi_epi8(x, y);
      a0 = _mm_add_epi32(a0, _mm_madd_epi16(_mm_unpacklo_epi8(lo, zero), w));
      a1 = _mm_add_epi32(a1, _mm_madd_epi16(_mm_unpackhi_epi8(lo, zero), w));
      a2 = _mm_add_epi32(a2, _mm_madd_epi16(_mm_unpacklo_epi8(hi, zero), w));
      a3 = _mm_add_epi32(a3, _mm_madd_epi16(_mm_unpackhi_epi8(hi, zero), w));
    }
    a0 = _mm_srai_epi32(_mm_add_epi32(a0, half), kBits);
    a1 = _mm_srai_epi32(_mm_add_epi32(a1, half), kBits);
    a2 = _mm_srai_epi32(_mm_add_epi32(a2, half), kBits);
    a3 = _mm_srai_epi32(_mm_add_epi32(a3, half), kBits);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + c), _mm_packus_epi16(_mm_packs_epi32(a0, a1), _mm_packs_epi32(a2, a3)));
  }
  for (; c < n; c++) {
    int32_t acc = 0;
    for (int q = 0; q < 2 * np; q++) acc += rows[q][c] * w16[8 * (q / 2) + (q % 2)];
    out[c] = clamp_u8(acc);
  }
}
#endif

template <typename F>
void with_taps(int k, F f) {
  switch (k) {
    case 1: f(std::integral_constant<int, 1>()); break;
    case 2: f(std::integral_constant<int, 2>()); break;
    case 3: f(std::integral_constant<int, 3>()); break;
    case 4: f(std::integral_constant<int, 4>()); break;
    case 5: f(std::integral_constant<int, 5>()); break;
    case 6: f(std::integral_constant<int, 6>()); break;
    case 7: f(std::integral_constant<int, 7>()); break;
    case 8: f(std::integral_constant<int, 8>()); break;
    case 9: f(std::integral_constant<int, 9>()); break;
    default: f(std::integral_constant<int, 0>()); break;
  }
}

#if defined(ABLATE_RESAMPLE_SIMD)
// The weights of `t` as the SSE2 kernels read them: per output pixel, per pair of taps, {w0, w1} four times (a
// padding tap weighs 0). False when a weight does not fit in 16 bits: never for decoding's reductions (weights
// lie in [0, 1 << kBits]), conceivable only for extreme ones through the test entry.
inline bool pair_weights(const FixedTaps& t, std::vector<int16_t>& w16) {
  const int np = (t.k + 1) / 2;
  const size_t out = t.start.size();
  w16.assign(out * np * 8, 0);
  for (size_t i = 0; i < out; i++) {
    for (int j = 0; j < t.k; j++) {
      const int32_t v = t.w[i * t.k + j];
      if (v < INT16_MIN || v > INT16_MAX) return false;
      int16_t* d = &w16[(i * np + j / 2) * 8 + j % 2];
      d[0] = d[2] = d[4] = d[6] = static_cast<int16_t>(v);
    }
  }
  return true;
}
#endif

// src: h × w × 3. Horizontal pass first (over only the rows the vertical pass reads, each rounded to 8 bits),
// then vertical. Integer sums throughout, so every path (SSE2 or not, padded taps or not) gives the same bytes.
inline void resize_rgb(const uint8_t* src, int h, int w, uint8_t* dst, int oh, int ow, double sy, double sx, int offy, int offx) {
  const FixedTaps tx = fix_taps(make_taps(w, ow, sx, offx), w);
  const FixedTaps ty = fix_taps(make_taps(h, oh, sy, offy), h);
  int rlo = h, rhi = 0;
  for (int i = 0; i < oh; i++) {
    rlo = std::min(rlo, ty.start[i]);
    rhi = std::max(rhi, ty.start[i] + ty.k);
  }
  const size_t rowBytes = static_cast<size_t>(ow) * 3, srcRow = static_cast<size_t>(w) * 3;
  // Every byte up to the slack is written before it is read: no zero-fill.
  std::unique_ptr<uint8_t[]> mid(new uint8_t[static_cast<size_t>(std::max(rhi - rlo, 0)) * rowBytes + 16]);
#if defined(ABLATE_RESAMPLE_SIMD)
  std::vector<int16_t> wx16, wy16;
  if (pair_weights(tx, wx16) && pair_weights(ty, wy16)) {
    with_taps((tx.k + 1) / 2, [&](auto P) {
      std::vector<uint8_t> last;  // a row too near the end of src for the kernel's over-read, copied with room after it
      for (int y = rlo; y < rhi; y++) {
        const uint8_t* row = src + y * srcRow;
        if (static_cast<size_t>(h - 1 - y) * srcRow < 8) {
          last.assign(srcRow + 16, 0);
          std::memcpy(last.data(), row, srcRow);
          row = last.data();
        }
        resample_row_sse2<P()>(row, tx.start.data(), wx16.data(), &mid[(y - rlo) * rowBytes], ow, (tx.k + 1) / 2);
      }
    });
    const int py = (ty.k + 1) / 2;
    with_taps(py, [&](auto P) {
      std::vector<const uint8_t*> rows(2 * py);
      for (int j = 0; j < oh; j++) {
        for (int i = 0; i < 2 * py; i++) rows[i] = &mid[(ty.start[j] + std::min(i, ty.k - 1) - rlo) * rowBytes];
        resample_column_sse2<P()>(rows.data(), &wy16[static_cast<size_t>(j) * py * 8], dst + j * rowBytes, rowBytes, py);
      }
    });
    return;
  }
#endif
  with_taps(tx.k, [&](auto K) {
    for (int y = rlo; y < rhi; y++) {
      resample_row<K()>(src + y * srcRow, tx.start.data(), tx.w.data(), &mid[(y - rlo) * rowBytes], ow, tx.k);
    }
  });
  with_taps(ty.k, [&](auto K) {
    std::vector<const uint8_t*> rows(ty.k);
    for (int j = 0; j < oh; j++) {
      for (int i = 0; i < ty.k; i++) rows[i] = &mid[(ty.start[j] + i - rlo) * rowBytes];
      resample_column<K()>(rows.data(), &ty.w[static_cast<size_t>(j) * ty.k], dst + j * rowBytes, rowBytes, ty.k);
    }
  });
}

}  // namespace ablate_resample
