;; f64x2 SIMD versions of crossDots, addTransposedProduct and addLowRank of src/sim/matrix.ts: the same
;; arguments (arrays as byte offsets into the imported memory, sizes as element counts) and the same
;; results up to the order of summation. Vectors run along the contiguous index of the rows; an odd row
;; length leaves one column, done in lane 0. No FMA: relaxed-simd is behind a flag in Node 20.
;; Build: node scripts/build-wasm.mjs (wabt) -> src/sim/wasm/bytes.ts.
(module
  (import "env" "memory" (memory 1))

  ;; s1[mu] = W_i . x_mu, s2[mu] = W_k . x_mu (rows at w1, w2 of length N; x: n rows of length N).
  ;; Two rows by 4 points per pass: 8 vector accumulators (more would spill: x64 has 16 vector
  ;; registers), each loaded x serving both rows; then a block of 2 and of 1 point.
  (func $pairDots
    (param $w1 i32) (param $w2 i32) (param $N i32) (param $x i32) (param $n i32) (param $s1 i32) (param $s2 i32)
    (local $row i32) (local $even i32) (local $k i32) (local $mu i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $u v128) (local $v v128) (local $t v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $row (i32.shl (local.get $N) (i32.const 3)))
    (local.set $even (i32.and (local.get $row) (i32.const -16)))
    ;; blocks of 4 points
    (block $done4
      (loop $points4
        (br_if $done4 (i32.gt_s (i32.add (local.get $mu) (i32.const 4)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $x) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $p1 (i32.add (local.get $p0) (local.get $row)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $row)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $row)))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0)) (local.set $a2 (v128.const f64x2 0 0)) (local.set $a3 (v128.const f64x2 0 0)) (local.set $b0 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0)) (local.set $b2 (v128.const f64x2 0 0)) (local.set $b3 (v128.const f64x2 0 0))
        (local.set $k (i32.const 0))
        (block $end
          (loop $cols
            (br_if $end (i32.ge_u (local.get $k) (local.get $even)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load (i32.add (local.get $p1) (local.get $k))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load (i32.add (local.get $p2) (local.get $k))))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b2 (f64x2.add (local.get $b2) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load (i32.add (local.get $p3) (local.get $k))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b3 (f64x2.add (local.get $b3) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column in lane 0, zeros in lane 1
        (if (i32.ne (local.get $even) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p1) (local.get $k))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p2) (local.get $k))))
            (local.set $a2 (f64x2.add (local.get $a2) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b2 (f64x2.add (local.get $b2) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p3) (local.get $k))))
            (local.set $a3 (f64x2.add (local.get $a3) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b3 (f64x2.add (local.get $b3) (f64x2.mul (local.get $v) (local.get $t))))))
        (call $store2 (local.get $s1) (local.get $s2) (local.get $mu) (local.get $a0) (local.get $b0))
        (call $store2 (local.get $s1) (local.get $s2) (i32.add (local.get $mu) (i32.const 1)) (local.get $a1) (local.get $b1))
        (call $store2 (local.get $s1) (local.get $s2) (i32.add (local.get $mu) (i32.const 2)) (local.get $a2) (local.get $b2))
        (call $store2 (local.get $s1) (local.get $s2) (i32.add (local.get $mu) (i32.const 3)) (local.get $a3) (local.get $b3))
        (local.set $mu (i32.add (local.get $mu) (i32.const 4)))
        (br $points4)))
    ;; blocks of 2 points
    (block $done2
      (loop $points2
        (br_if $done2 (i32.gt_s (i32.add (local.get $mu) (i32.const 2)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $x) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $p1 (i32.add (local.get $p0) (local.get $row)))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $a1 (v128.const f64x2 0 0)) (local.set $b0 (v128.const f64x2 0 0)) (local.set $b1 (v128.const f64x2 0 0))
        (local.set $k (i32.const 0))
        (block $end
          (loop $cols
            (br_if $end (i32.ge_u (local.get $k) (local.get $even)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load (i32.add (local.get $p1) (local.get $k))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column in lane 0, zeros in lane 1
        (if (i32.ne (local.get $even) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p1) (local.get $k))))
            (local.set $a1 (f64x2.add (local.get $a1) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b1 (f64x2.add (local.get $b1) (f64x2.mul (local.get $v) (local.get $t))))))
        (call $store2 (local.get $s1) (local.get $s2) (local.get $mu) (local.get $a0) (local.get $b0))
        (call $store2 (local.get $s1) (local.get $s2) (i32.add (local.get $mu) (i32.const 1)) (local.get $a1) (local.get $b1))
        (local.set $mu (i32.add (local.get $mu) (i32.const 2)))
        (br $points2)))
    ;; blocks of 1 point
    (block $done1
      (loop $points1
        (br_if $done1 (i32.gt_s (i32.add (local.get $mu) (i32.const 1)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $x) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $a0 (v128.const f64x2 0 0)) (local.set $b0 (v128.const f64x2 0 0))
        (local.set $k (i32.const 0))
        (block $end
          (loop $cols
            (br_if $end (i32.ge_u (local.get $k) (local.get $even)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column in lane 0, zeros in lane 1
        (if (i32.ne (local.get $even) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $t (v128.load64_zero (i32.add (local.get $p0) (local.get $k))))
            (local.set $a0 (f64x2.add (local.get $a0) (f64x2.mul (local.get $u) (local.get $t))))
            (local.set $b0 (f64x2.add (local.get $b0) (f64x2.mul (local.get $v) (local.get $t))))))
        (call $store2 (local.get $s1) (local.get $s2) (local.get $mu) (local.get $a0) (local.get $b0))
        (local.set $mu (i32.add (local.get $mu) (i32.const 1)))
        (br $points1))))

  ;; s1[mu] = lane sum of a, s2[mu] = lane sum of b
  (func $store2 (param $s1 i32) (param $s2 i32) (param $mu i32) (param $a v128) (param $b v128)
    (local $o i32)
    (local.set $o (i32.shl (local.get $mu) (i32.const 3)))
    (f64.store (i32.add (local.get $s1) (local.get $o)) (f64.add (f64x2.extract_lane 0 (local.get $a)) (f64x2.extract_lane 1 (local.get $a))))
    (f64.store (i32.add (local.get $s2) (local.get $o)) (f64.add (f64x2.extract_lane 0 (local.get $b)) (f64x2.extract_lane 1 (local.get $b)))))

  ;; acc_mu += c1[mu] W_i + c2[mu] W_k for mu < n (rows at w1, w2 of length N; acc: n rows of length N).
  ;; 4 points per pass, their 8 coefficients held in registers; then a block of 2 and of 1 point.
  (func $pairAxpy
    (param $w1 i32) (param $w2 i32) (param $N i32) (param $c1 i32) (param $c2 i32) (param $n i32) (param $acc i32)
    (local $row i32) (local $end i32) (local $k i32) (local $mu i32) (local $q i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32)
    (local $u v128) (local $v v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local.set $row (i32.shl (local.get $N) (i32.const 3)))
    ;; the vector loop runs to `end` = row length rounded down to 16 bytes; an odd N leaves one column
    (local.set $end (i32.and (local.get $row) (i32.const -16)))
    ;; blocks of 4 points
    (block $done4
      (loop $points4
        (br_if $done4 (i32.gt_s (i32.add (local.get $mu) (i32.const 4)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $acc) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $p1 (i32.add (local.get $p0) (local.get $row)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $row)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $row)))
        (local.set $k (i32.add (local.get $c1) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $a0 (v128.load64_splat (local.get $k)))
        (local.set $a1 (v128.load64_splat offset=8 (local.get $k)))
        (local.set $a2 (v128.load64_splat offset=16 (local.get $k)))
        (local.set $a3 (v128.load64_splat offset=24 (local.get $k)))
        (local.set $k (i32.add (local.get $c2) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $b0 (v128.load64_splat (local.get $k)))
        (local.set $b1 (v128.load64_splat offset=8 (local.get $k)))
        (local.set $b2 (v128.load64_splat offset=16 (local.get $k)))
        (local.set $b3 (v128.load64_splat offset=24 (local.get $k)))
        (local.set $k (i32.const 0))
        (block $last
          (loop $cols
            (br_if $last (i32.ge_u (local.get $k) (local.get $end)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0)))))
            (local.set $q (i32.add (local.get $p1) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a1)) (f64x2.mul (local.get $v) (local.get $b1)))))
            (local.set $q (i32.add (local.get $p2) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a2)) (f64x2.mul (local.get $v) (local.get $b2)))))
            (local.set $q (i32.add (local.get $p3) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a3)) (f64x2.mul (local.get $v) (local.get $b3)))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column
        (if (i32.ne (local.get $end) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0))))))
            (local.set $q (i32.add (local.get $p1) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a1)) (f64x2.mul (local.get $v) (local.get $b1))))))
            (local.set $q (i32.add (local.get $p2) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a2)) (f64x2.mul (local.get $v) (local.get $b2))))))
            (local.set $q (i32.add (local.get $p3) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a3)) (f64x2.mul (local.get $v) (local.get $b3))))))))
        (local.set $mu (i32.add (local.get $mu) (i32.const 4)))
        (br $points4)))
    ;; blocks of 2 points
    (block $done2
      (loop $points2
        (br_if $done2 (i32.gt_s (i32.add (local.get $mu) (i32.const 2)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $acc) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $p1 (i32.add (local.get $p0) (local.get $row)))
        (local.set $k (i32.add (local.get $c1) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $a0 (v128.load64_splat (local.get $k)))
        (local.set $a1 (v128.load64_splat offset=8 (local.get $k)))
        (local.set $k (i32.add (local.get $c2) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $b0 (v128.load64_splat (local.get $k)))
        (local.set $b1 (v128.load64_splat offset=8 (local.get $k)))
        (local.set $k (i32.const 0))
        (block $last
          (loop $cols
            (br_if $last (i32.ge_u (local.get $k) (local.get $end)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0)))))
            (local.set $q (i32.add (local.get $p1) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a1)) (f64x2.mul (local.get $v) (local.get $b1)))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column
        (if (i32.ne (local.get $end) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0))))))
            (local.set $q (i32.add (local.get $p1) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a1)) (f64x2.mul (local.get $v) (local.get $b1))))))))
        (local.set $mu (i32.add (local.get $mu) (i32.const 2)))
        (br $points2)))
    ;; blocks of 1 point
    (block $done1
      (loop $points1
        (br_if $done1 (i32.gt_s (i32.add (local.get $mu) (i32.const 1)) (local.get $n)))
        (local.set $p0 (i32.add (local.get $acc) (i32.mul (local.get $mu) (local.get $row))))
        (local.set $k (i32.add (local.get $c1) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $a0 (v128.load64_splat (local.get $k)))
        (local.set $k (i32.add (local.get $c2) (i32.shl (local.get $mu) (i32.const 3))))
        (local.set $b0 (v128.load64_splat (local.get $k)))
        (local.set $k (i32.const 0))
        (block $last
          (loop $cols
            (br_if $last (i32.ge_u (local.get $k) (local.get $end)))
            (local.set $u (v128.load (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q))
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0)))))
            (local.set $k (i32.add (local.get $k) (i32.const 16)))
            (br $cols)))
        ;; odd N: the last column
        (if (i32.ne (local.get $end) (local.get $row))
          (then
            (local.set $u (v128.load64_zero (i32.add (local.get $w1) (local.get $k))))
            (local.set $v (v128.load64_zero (i32.add (local.get $w2) (local.get $k))))
            (local.set $q (i32.add (local.get $p0) (local.get $k)))
            (f64.store (local.get $q) (f64.add (f64.load (local.get $q)) (f64x2.extract_lane 0
              (f64x2.add (f64x2.mul (local.get $u) (local.get $a0)) (f64x2.mul (local.get $v) (local.get $b0))))))))
        (local.set $mu (i32.add (local.get $mu) (i32.const 1)))
        (br $points1))))

  ;; C[r n + mu] = A_r . X_mu for rows A_r (r < R) and X_mu (mu < n) of length N: pairDots over pairs of
  ;; rows of A, an odd last row paired with itself.
  (func (export "crossDots") (param $A i32) (param $R i32) (param $X i32) (param $n i32) (param $N i32) (param $C i32)
    (local $r i32) (local $k i32) (local $row i32) (local $out i32)
    (local.set $row (i32.shl (local.get $N) (i32.const 3)))
    (local.set $out (i32.shl (local.get $n) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_s (local.get $r) (local.get $R)))
        (local.set $k (select (i32.add (local.get $r) (i32.const 1)) (local.get $r) (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $R))))
        (call $pairDots
          (i32.add (local.get $A) (i32.mul (local.get $r) (local.get $row))) (i32.add (local.get $A) (i32.mul (local.get $k) (local.get $row)))
          (local.get $N) (local.get $X) (local.get $n)
          (i32.add (local.get $C) (i32.mul (local.get $r) (local.get $out))) (i32.add (local.get $C) (i32.mul (local.get $k) (local.get $out))))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $pairs))))

  ;; out_mu += sum_{r < R} C[r n + mu] A_r for mu < n (rows of length N): pairAxpy over pairs of rows of A.
  ;; An odd last row is paired with itself, its second coefficients read from row R of C (zeros).
  (func (export "addTransposedProduct") (param $A i32) (param $R i32) (param $C i32) (param $n i32) (param $N i32) (param $out i32)
    (local $r i32) (local $k i32) (local $row i32) (local $coef i32)
    (local.set $row (i32.shl (local.get $N) (i32.const 3)))
    (local.set $coef (i32.shl (local.get $n) (i32.const 3)))
    (block $done
      (loop $pairs
        (br_if $done (i32.ge_s (local.get $r) (local.get $R)))
        (local.set $k (select (i32.add (local.get $r) (i32.const 1)) (local.get $r) (i32.lt_s (i32.add (local.get $r) (i32.const 1)) (local.get $R))))
        (call $pairAxpy
          (i32.add (local.get $A) (i32.mul (local.get $r) (local.get $row))) (i32.add (local.get $A) (i32.mul (local.get $k) (local.get $row)))
          (local.get $N)
          (i32.add (local.get $C) (i32.mul (local.get $r) (local.get $coef))) (i32.add (local.get $C) (i32.mul (i32.add (local.get $r) (i32.const 1)) (local.get $coef)))
          (local.get $n) (local.get $out))
        (local.set $r (i32.add (local.get $r) (i32.const 2)))
        (br $pairs))))

  ;; M += sum_{r < R} U_r V_r^T for M rows x cols (U: R rows of length `rows`, V: R rows of length `cols`).
  ;; Two rows of M by 4 rank terms per pass: 8 coefficients in registers, each loaded V serving both rows.
  (func (export "addLowRank")
    (param $M i32) (param $rows i32) (param $cols i32) (param $U i32) (param $V i32) (param $R i32)
    (local $row i32) (local $urow i32) (local $end i32) (local $i i32) (local $r i32) (local $k i32)
    (local $m0 i32) (local $m1 i32) (local $u i32) (local $q i32)
    (local $v0 i32) (local $v1 i32) (local $v2 i32) (local $v3 i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local $b0 v128) (local $b1 v128) (local $b2 v128) (local $b3 v128)
    (local $x0 v128) (local $x1 v128) (local $x2 v128) (local $x3 v128)
    (local.set $row (i32.shl (local.get $cols) (i32.const 3)))
    (local.set $urow (i32.shl (local.get $rows) (i32.const 3)))
    ;; the vector loop runs to `end` = row length rounded down to 16 bytes; an odd length leaves one column
    (local.set $end (i32.and (local.get $row) (i32.const -16)))
    (block $rowsDone
      (loop $rowPairs
        (br_if $rowsDone (i32.ge_s (i32.add (local.get $i) (i32.const 1)) (local.get $rows)))
        (local.set $m0 (i32.add (local.get $M) (i32.mul (local.get $i) (local.get $row))))
        (local.set $m1 (i32.add (local.get $m0) (local.get $row)))
        (local.set $r (i32.const 0))
        (block $termsDone
          (loop $terms4
            (br_if $termsDone (i32.gt_s (i32.add (local.get $r) (i32.const 4)) (local.get $R)))
            (local.set $u (i32.add (local.get $U) (i32.add (i32.mul (local.get $r) (local.get $urow)) (i32.shl (local.get $i) (i32.const 3)))))
            (local.set $a0 (v128.load64_splat (local.get $u)))
            (local.set $b0 (v128.load64_splat offset=8 (local.get $u)))
            (local.set $u (i32.add (local.get $u) (local.get $urow)))
            (local.set $a1 (v128.load64_splat (local.get $u)))
            (local.set $b1 (v128.load64_splat offset=8 (local.get $u)))
            (local.set $u (i32.add (local.get $u) (local.get $urow)))
            (local.set $a2 (v128.load64_splat (local.get $u)))
            (local.set $b2 (v128.load64_splat offset=8 (local.get $u)))
            (local.set $u (i32.add (local.get $u) (local.get $urow)))
            (local.set $a3 (v128.load64_splat (local.get $u)))
            (local.set $b3 (v128.load64_splat offset=8 (local.get $u)))
            (local.set $v0 (i32.add (local.get $V) (i32.mul (local.get $r) (local.get $row))))
            (local.set $v1 (i32.add (local.get $v0) (local.get $row)))
            (local.set $v2 (i32.add (local.get $v1) (local.get $row)))
            (local.set $v3 (i32.add (local.get $v2) (local.get $row)))
            (local.set $k (i32.const 0))
            (block $last
              (loop $cols
                (br_if $last (i32.ge_u (local.get $k) (local.get $end)))
                (local.set $x0 (v128.load (i32.add (local.get $v0) (local.get $k))))
                (local.set $x1 (v128.load (i32.add (local.get $v1) (local.get $k))))
                (local.set $x2 (v128.load (i32.add (local.get $v2) (local.get $k))))
                (local.set $x3 (v128.load (i32.add (local.get $v3) (local.get $k))))
    (local.set $q (i32.add (local.get $m0) (local.get $k)))
                (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $x0) (local.get $a0)) (f64x2.mul (local.get $x1) (local.get $a1)))
                  (f64x2.add (f64x2.mul (local.get $x2) (local.get $a2)) (f64x2.mul (local.get $x3) (local.get $a3))))))
                (local.set $q (i32.add (local.get $m1) (local.get $k)))
                (v128.store (local.get $q) (f64x2.add (v128.load (local.get $q)) (f64x2.add
                  (f64x2.add (f64x2.mul (local.get $x0) (local.get $b0)) (f64x2.mul (local.get $x1) (local.get $b1)))
                  (f64x2.add (f64x2.mul (local.get $x2) (local.get $b2)) (f64x2.mul (local.get $x3) (local.get $b3))))))
                (local.set $k (i32.add (local.get $k) (i32.const 16)))
                (br $cols)))
            (if (i32.ne (local.get $end) (local.get $row))
              (then
                (local.set $x0 (v128.load64_splat (i32.add (local.get $v0) (local.get $k))))
                (local.set $x1 (v128.load64_splat (i32.add (local.get $v1) (local.get $k))))
                (local.set $x2 (v128.load64_splat (i32.add (local.get $v2) (local.get $k))))
                (local.set $x3 (v128.load64_splat (i32.add (local.get $v3) (local.get $k))))
                (call $rank4lane (i32.add (local.get $m0) (local.get $k)) (local.get $x0) (local.get $x1) (local.get $x2) (local.get $x3)
                  (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3))
                (call $rank4lane (i32.add (local.get $m1) (local.get $k)) (local.get $x0) (local.get $x1) (local.get $x2) (local.get $x3)
                  (local.get $b0) (local.get $b1) (local.get $b2) (local.get $b3))))
            (local.set $r (i32.add (local.get $r) (i32.const 4)))
            (br $terms4)))
        ;; the remaining terms one at a time
        (block $restDone
          (loop $rest
            (br_if $restDone (i32.ge_s (local.get $r) (local.get $R)))
            (call $rowTerm (local.get $m0) (local.get $m1) (local.get $row)
              (i32.add (local.get $U) (i32.add (i32.mul (local.get $r) (local.get $urow)) (i32.shl (local.get $i) (i32.const 3))))
              (i32.add (local.get $V) (i32.mul (local.get $r) (local.get $row))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $rest)))
        (local.set $i (i32.add (local.get $i) (i32.const 2)))
        (br $rowPairs)))
    ;; the last row of an odd count, one term at a time
    (if (i32.lt_s (local.get $i) (local.get $rows))
      (then
        (local.set $m0 (i32.add (local.get $M) (i32.mul (local.get $i) (local.get $row))))
        (local.set $r (i32.const 0))
        (block $oddDone
          (loop $odd
            (br_if $oddDone (i32.ge_s (local.get $r) (local.get $R)))
            (call $axpy (local.get $m0) (local.get $row)
              (v128.load64_splat (i32.add (local.get $U) (i32.add (i32.mul (local.get $r) (local.get $urow)) (i32.shl (local.get $i) (i32.const 3)))))
              (i32.add (local.get $V) (i32.mul (local.get $r) (local.get $row))))
            (local.set $r (i32.add (local.get $r) (i32.const 1)))
            (br $odd))))))

  ;; one double at p += x0 c0 + x1 c1 + x2 c2 + x3 c3 (lane 0)
  (func $rank4lane (param $p i32) (param $x0 v128) (param $x1 v128) (param $x2 v128) (param $x3 v128)
    (param $c0 v128) (param $c1 v128) (param $c2 v128) (param $c3 v128)
    (f64.store (local.get $p)
      (f64.add (f64.load (local.get $p))
        (f64x2.extract_lane 0
          (f64x2.add
            (f64x2.add (f64x2.mul (local.get $x0) (local.get $c0)) (f64x2.mul (local.get $x1) (local.get $c1)))
            (f64x2.add (f64x2.mul (local.get $x2) (local.get $c2)) (f64x2.mul (local.get $x3) (local.get $c3))))))))

  ;; rows m0 and m1 (row bytes each) += U[i] V_r and U[i+1] V_r, the coefficients at u and u + 8
  (func $rowTerm (param $m0 i32) (param $m1 i32) (param $row i32) (param $u i32) (param $v i32)
    (call $axpy (local.get $m0) (local.get $row) (v128.load64_splat (local.get $u)) (local.get $v))
    (call $axpy (local.get $m1) (local.get $row) (v128.load64_splat offset=8 (local.get $u)) (local.get $v)))

  ;; row m (row bytes) += a v
  (func $axpy (param $m i32) (param $row i32) (param $a v128) (param $v i32)
    (local $k i32) (local $end i32)
    (local.set $end (i32.and (local.get $row) (i32.const -16)))
    (block $last
      (loop $cols
        (br_if $last (i32.ge_u (local.get $k) (local.get $end)))
        (v128.store (i32.add (local.get $m) (local.get $k))
          (f64x2.add (v128.load (i32.add (local.get $m) (local.get $k)))
            (f64x2.mul (local.get $a) (v128.load (i32.add (local.get $v) (local.get $k))))))
        (local.set $k (i32.add (local.get $k) (i32.const 16)))
        (br $cols)))
    (if (i32.ne (local.get $end) (local.get $row))
      (then
        (f64.store (i32.add (local.get $m) (local.get $k))
          (f64.add (f64.load (i32.add (local.get $m) (local.get $k)))
            (f64.mul (f64x2.extract_lane 0 (local.get $a)) (f64.load (i32.add (local.get $v) (local.get $k)))))))))
)
