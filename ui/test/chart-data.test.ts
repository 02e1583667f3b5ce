import { describe, expect, it } from 'vitest';
import { ChartWindow, newestValues, redrawDue } from '../src/chart-data';

describe('ChartWindow', () => {
  it('appends in place, refuses replays, and drops old points in batches', () => {
    const w = new ChartWindow(3);
    const [t, a, b] = w.data;
    w.replace([[1, 2], [10, 20], [null, 5]]);
    expect(w.data[0]).toBe(t);
    expect(w.data).toEqual([[1, 2], [10, 20], [null, 5]]);
    expect(w.append([2, 0, 0], 0)).toBe(false);
    expect(w.append([3, 30, null], 0)).toBe(true);
    expect(w.data).toEqual([[1, 2, 3], [10, 20, 30], [null, 5, null]]);
    expect(w.data[1]).toBe(a);
    // Points before the window stay until a batch of them has piled up, then go in one splice.
    for (let s = 4; s < 70; s += 1) w.append([s, s, s], 10);
    expect(w.data[0]![0]).toBe(1);
    w.append([70, 70, 70], 66);
    expect(w.data[0]![0]).toBe(66);
    expect(w.data[2]).toBe(b);
    expect(w.data.every((c) => c.length === w.length)).toBe(true);
  });
});

describe('redrawDue', () => {
  const px = 330 / 600; // pixels per second: 10 minutes over 330 px
  const perByte = 140 / 2 ** 34; // 140 px for 16 GiB
  it('skips a redraw that would move nothing by a whole pixel', () => {
    const drawn = { xMax: 1000, ys: [2 ** 33, null] };
    expect(redrawDue(null, drawn, px, perByte)).toBe(true);
    expect(redrawDue(drawn, { xMax: 1001, ys: [2 ** 33 + 2 ** 20, null] }, px, perByte)).toBe(false);
    expect(redrawDue(drawn, { xMax: 1002, ys: [2 ** 33, null] }, px, perByte)).toBe(true);
    expect(redrawDue(drawn, { xMax: 1001, ys: [2 ** 33 + 2 ** 28, null] }, px, perByte)).toBe(true);
    expect(redrawDue(drawn, { xMax: 1001, ys: [2 ** 33, 5] }, px, perByte)).toBe(true);
    // 24 hours over 330 px: a sample moves the axis by 0.004 px.
    expect(redrawDue(drawn, { xMax: 1001, ys: [2 ** 33, null] }, 330 / 86400, perByte)).toBe(false);
  });
  it('reads the newest value of each series', () => {
    expect(newestValues([[1, 2], [3, 4], [], [5, null]])).toEqual([4, null, null]);
  });
});
