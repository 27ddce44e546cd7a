/** Money as the cost reports print it: USD with cents, signed differences, percentages. */

export function formatUsd(value: number): string {
  const cents = Math.round(Math.abs(value) * 100);
  const whole = Math.floor(cents / 100).toLocaleString("en-US");
  const sign = value < 0 && cents > 0 ? "-" : "";
  return `${sign}$${whole}.${String(cents % 100).padStart(2, "0")}`;
}

export function formatDiff(value: number): string {
  if (Math.round(value * 100) === 0) return "$0.00";
  return value > 0 ? `+${formatUsd(value)}` : formatUsd(value);
}

/** "+100%", "-50%", "" when there is nothing to compare with. */
export function formatPercent(before: number, diff: number): string {
  if (before === 0 || Math.round(diff * 100) === 0) return "";
  const pct = (diff / before) * 100;
  const rounded = Math.abs(pct) < 1 ? pct.toFixed(1) : String(Math.round(pct));
  return `${pct > 0 ? "+" : ""}${rounded}%`;
}

/** Whole cents as USD, e.g. 2880 -> "$28.80". */
export function usd(cents: number): string {
  return formatUsd(cents / 100);
}
