/**
 * The benchmark's tables: each figure next to its goal (issue 18), and whether it is met.
 * Rows without a goal print "—".
 */
export interface Goal {
  text: string;
  met: boolean;
}

export class GoalTable {
  private readonly rows: string[][];
  private goals = 0;
  private met = 0;

  constructor(header: string[]) {
    this.rows = [[...header, 'goal', 'met']];
  }

  /** A row of a baseline and ours, with their comparison (`versus`) and the goal if there is one. */
  add(name: string, baseline: number, ours: number, digits: number, versus: string, goal?: Goal): void {
    this.addRow([name, baseline.toFixed(digits), ours.toFixed(digits), versus], goal);
  }

  /** A row of free-form cells (as many as the header has before goal/met). */
  addRow(cells: string[], goal?: Goal): void {
    if (goal) {
      this.goals++;
      if (goal.met) this.met++;
    }
    this.rows.push([...cells, goal?.text ?? '—', goal ? (goal.met ? 'yes' : 'NO') : '—']);
  }

  print(print: (line: string) => void): void {
    const w = this.rows[0]!.map((_, i) => Math.max(...this.rows.map((r) => (r[i] ?? '').length)));
    for (const r of this.rows)
      print(
        r
          .map((c, i) => c.padEnd(w[i]!))
          .join('  ')
          .trimEnd(),
      );
    print(`goals met: ${this.met} of ${this.goals}`);
  }
}
