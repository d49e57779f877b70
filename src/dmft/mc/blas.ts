/**
 * The two dense products the Monte Carlo solver spends its time in, on flat row-major arrays with offsets
 * and strides, register-blocked (bench/mc.ts). Each output's sum runs in the same order whatever the blocking,
 * so the results do not depend on it.
 */

/**
 * out[r * ldo + c] += sum_p A[ao + r * lda + p] B[bo + p * ldb + c]   (r < rows, p < inner, c < cols).
 * Two rows at a time share each load of B; blocks of four zeros in A are skipped (the sums are the same).
 */
export function gemmAcc(
  A: Float64Array,
  ao: number,
  lda: number,
  B: Float64Array,
  bo: number,
  ldb: number,
  out: Float64Array,
  oo: number,
  ldo: number,
  rows: number,
  inner: number,
  cols: number,
): void {
  let r = 0;
  for (; r + 1 < rows; r += 2) {
    const o0 = oo + r * ldo,
      o1 = o0 + ldo,
      a = ao + r * lda,
      b = a + lda;
    let p = 0;
    for (; p + 3 < inner; p += 4) {
      const x0 = A[a + p],
        x1 = A[a + p + 1],
        x2 = A[a + p + 2],
        x3 = A[a + p + 3];
      const y0 = A[b + p],
        y1 = A[b + p + 1],
        y2 = A[b + p + 2],
        y3 = A[b + p + 3];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0 && y0 === 0 && y1 === 0 && y2 === 0 && y3 === 0) continue;
      const b0 = bo + p * ldb,
        b1 = b0 + ldb,
        b2 = b1 + ldb,
        b3 = b2 + ldb;
      for (let c = 0; c < cols; c++) {
        const v0 = B[b0 + c],
          v1 = B[b1 + c],
          v2 = B[b2 + c],
          v3 = B[b3 + c];
        out[o0 + c] += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
        out[o1 + c] += y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3;
      }
    }
    for (; p < inner; p++) {
      const x0 = A[a + p],
        y0 = A[b + p];
      if (x0 === 0 && y0 === 0) continue;
      const b0 = bo + p * ldb;
      for (let c = 0; c < cols; c++) {
        const v = B[b0 + c];
        out[o0 + c] += x0 * v;
        out[o1 + c] += y0 * v;
      }
    }
  }
  for (; r < rows; r++) {
    const o = oo + r * ldo,
      a = ao + r * lda;
    let p = 0;
    for (; p + 3 < inner; p += 4) {
      const a0 = A[a + p],
        a1 = A[a + p + 1],
        a2 = A[a + p + 2],
        a3 = A[a + p + 3];
      if (a0 === 0 && a1 === 0 && a2 === 0 && a3 === 0) continue;
      const b0 = bo + p * ldb,
        b1 = b0 + ldb,
        b2 = b1 + ldb,
        b3 = b2 + ldb;
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

/**
 * out[s * ldo + a] = sum_q X[xo + s * ldx + q] Y[yo + a * ldy + q]   (s < rows, a < cols, q < len).
 * Blocks of two rows by five columns (P = 10, 20 exactly; 2.35 against 1.85 GMAC/s for four at P = 10), then
 * by four, then single columns.
 */
export function gemmNT(
  X: Float64Array,
  xo: number,
  ldx: number,
  Y: Float64Array,
  yo: number,
  ldy: number,
  out: Float64Array,
  oo: number,
  ldo: number,
  rows: number,
  cols: number,
  len: number,
): void {
  let s = 0;
  for (; s + 1 < rows; s += 2) {
    const x = xo + s * ldx,
      z = x + ldx,
      o0 = oo + s * ldo,
      o1 = o0 + ldo;
    let a = 0;
    for (; a + 4 < cols; a += 5) {
      const y0 = yo + a * ldy,
        y1 = y0 + ldy,
        y2 = y1 + ldy,
        y3 = y2 + ldy,
        y4 = y3 + ldy;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        s4 = 0,
        t0 = 0,
        t1 = 0,
        t2 = 0,
        t3 = 0,
        t4 = 0;
      for (let q = 0; q < len; q++) {
        const u = X[x + q],
          v = X[z + q];
        const w0 = Y[y0 + q],
          w1 = Y[y1 + q],
          w2 = Y[y2 + q],
          w3 = Y[y3 + q],
          w4 = Y[y4 + q];
        s0 += u * w0;
        s1 += u * w1;
        s2 += u * w2;
        s3 += u * w3;
        s4 += u * w4;
        t0 += v * w0;
        t1 += v * w1;
        t2 += v * w2;
        t3 += v * w3;
        t4 += v * w4;
      }
      out[o0 + a] = s0;
      out[o0 + a + 1] = s1;
      out[o0 + a + 2] = s2;
      out[o0 + a + 3] = s3;
      out[o0 + a + 4] = s4;
      out[o1 + a] = t0;
      out[o1 + a + 1] = t1;
      out[o1 + a + 2] = t2;
      out[o1 + a + 3] = t3;
      out[o1 + a + 4] = t4;
    }
    for (; a + 3 < cols; a += 4) {
      const y0 = yo + a * ldy,
        y1 = y0 + ldy,
        y2 = y1 + ldy,
        y3 = y2 + ldy;
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0,
        t0 = 0,
        t1 = 0,
        t2 = 0,
        t3 = 0;
      for (let q = 0; q < len; q++) {
        const u = X[x + q],
          v = X[z + q];
        const w0 = Y[y0 + q],
          w1 = Y[y1 + q],
          w2 = Y[y2 + q],
          w3 = Y[y3 + q];
        s0 += u * w0;
        s1 += u * w1;
        s2 += u * w2;
        s3 += u * w3;
        t0 += v * w0;
        t1 += v * w1;
        t2 += v * w2;
        t3 += v * w3;
      }
      out[o0 + a] = s0;
      out[o0 + a + 1] = s1;
      out[o0 + a + 2] = s2;
      out[o0 + a + 3] = s3;
      out[o1 + a] = t0;
      out[o1 + a + 1] = t1;
      out[o1 + a + 2] = t2;
      out[o1 + a + 3] = t3;
    }
    for (; a < cols; a++) {
      const y0 = yo + a * ldy;
      let s0 = 0,
        t0 = 0;
      for (let q = 0; q < len; q++) {
        const w = Y[y0 + q];
        s0 += X[x + q] * w;
        t0 += X[z + q] * w;
      }
      out[o0 + a] = s0;
      out[o1 + a] = t0;
    }
  }
  for (; s < rows; s++) {
    const x = xo + s * ldx;
    for (let a = 0; a < cols; a++) {
      const y0 = yo + a * ldy;
      let s0 = 0;
      for (let q = 0; q < len; q++) s0 += X[x + q] * Y[y0 + q];
      out[oo + s * ldo + a] = s0;
    }
  }
}
