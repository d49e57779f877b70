declare module 'ode45-cash-karp' {
  type Vec = number[] | Float64Array;
  interface Options {
    tol?: number;
    dtMinMag?: number;
    dtMaxMag?: number;
    maxIncreaseFactor?: number;
    maxDecreaseFactor?: number;
    verbose?: boolean;
    errorScaleFunction?: (i: number, dt: number, y: number, dydt: number) => number;
    errorReduceFunction?: (i: number, acc: number, err: number) => number;
  }
  interface Integrator {
    n: number;
    y: Vec;
    t: number;
    dt: number;
    step(tLimit?: number): boolean;
    steps(n: number, tLimit?: number): boolean;
  }
  function ode45(y0: Vec, deriv: (dydt: Vec, y: Vec, t: number) => void, t0: number, dt0: number, options?: Options): Integrator;
  export = ode45;
}
