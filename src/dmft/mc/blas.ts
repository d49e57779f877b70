/**
 * The two dense products the Monte Carlo solver spends its time in, on flat row-major arrays with offsets
 * and strides (four-way unrolled: each pass over the long axis serves four rows).
 */

/** out[r * ldo + c] += sum_p A[ao + r * lda + p] B[bo + p * ldb + c]   (r < rows, p < inner, c < cols) */
export function gemmAcc(
  A: Float64Array, ao: number, lda: number,
  B: Float64Array, bo: number, ldb: number,
  out: Float64Array, oo: number, ldo: number,
  rows: number, inner: number, cols: number,
): void {
  for (let r = 0; r < rows; r++) {
    const o = oo + r * ldo, a = ao + r * lda;
    let p = 0;
    for (; p + 3 < inner; p += 4) {
      const a0 = A[a + p], a1 = A[a + p + 1], a2 = A[a + p + 2], a3 = A[a + p + 3];
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const b0 = bo + p * ldb, b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
      for (let c = 0; c < cols; c++) out[o + c] += a0 * B[b0 + c] + a1 * B[b1 + c] + a2 * B[b2 + c] + a3 * B[b3 + c];
    }
    for (; p < inner; p++) {
      const a0 = A[a + p];
      if (a0 === 0) continue;
      const b0 = bo + p * ldb;
      for (let c = 0; c < cols; c++) out[o + c] += a0 * B[b0 + c];
    }
  }
}

/** out[s * ldo + a] = sum_q X[xo + s * ldx + q] Y[yo + a * ldy + q]   (s < rows, a < cols, q < len) */
export function gemmNT(
  X: Float64Array, xo: number, ldx: number,
  Y: Float64Array, yo: number, ldy: number,
  out: Float64Array, oo: number, ldo: number,
  rows: number, cols: number, len: number,
): void {
  for (let s = 0; s < rows; s++) {
    const x = xo + s * ldx;
    let a = 0;
    for (; a + 3 < cols; a += 4) {
      const y0 = yo + a * ldy, y1 = y0 + ldy, y2 = y1 + ldy, y3 = y2 + ldy;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let q = 0; q < len; q++) {
        const v = X[x + q];
        s0 += v * Y[y0 + q];
        s1 += v * Y[y1 + q];
        s2 += v * Y[y2 + q];
        s3 += v * Y[y3 + q];
      }
      out[oo + s * ldo + a] = s0;
      out[oo + s * ldo + a + 1] = s1;
      out[oo + s * ldo + a + 2] = s2;
      out[oo + s * ldo + a + 3] = s3;
    }
    for (; a < cols; a++) {
      const y0 = yo + a * ldy;
      let s0 = 0;
      for (let q = 0; q < len; q++) s0 += X[x + q] * Y[y0 + q];
      out[oo + s * ldo + a] = s0;
    }
  }
}
