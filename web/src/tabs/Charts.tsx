// The dashboard's charts over time (teams, findings and actions per day;
// Graph requests per sweep against the budget). A chunk of its own: only
// the dashboard loads the charting library.
import { LineChart, VerticalBarChart, type LineChartPoints, type VerticalBarChartDataPoint } from "@fluentui/react-charts";
import { makeStyles, tokens } from "@fluentui/react-components";
import type { DayPoint, Sweep } from "../types";

const useStyles = makeStyles({
  charts: { display: "grid", gridTemplateColumns: "repeat(auto-fit, minmax(380px, 1fr))", gap: tokens.spacingHorizontalXL },
  chart: {
    margin: 0,
    backgroundColor: tokens.colorNeutralBackground1,
    borderRadius: tokens.borderRadiusMedium,
    padding: tokens.spacingHorizontalM,
  },
});

const dayOf = (day: string) => new Date(`${day}T00:00:00Z`);

export default function Charts({ series, sweeps }: { series: DayPoint[]; sweeps: Sweep[] }) {
  const s = useStyles();
  const lines: LineChartPoints[] = [
    { legend: "Teams", data: series.map((d) => ({ x: dayOf(d.day), y: d.teams })), color: tokens.colorPaletteBlueForeground2 },
    { legend: "Findings", data: series.map((d) => ({ x: dayOf(d.day), y: d.findings })), color: tokens.colorPaletteMarigoldForeground2 },
    { legend: "Actions", data: series.map((d) => ({ x: dayOf(d.day), y: d.actions })), color: tokens.colorPaletteRedForeground2 },
  ];
  const bars: VerticalBarChartDataPoint[] = sweeps
    .slice()
    .reverse()
    .slice(-14)
    .map((sw) => ({
      x: new Date(sw.at).toLocaleDateString(undefined, { month: "short", day: "numeric" }),
      y: sw.graphRequests,
      legend: "Graph requests",
      color: sw.budget > 0 && sw.graphRequests > sw.budget * 0.9 ? tokens.colorPaletteRedBackground3 : tokens.colorBrandBackground,
      xAxisCalloutData: new Date(sw.at).toLocaleString(),
      yAxisCalloutData: `${sw.graphRequests} of ${sw.budget}`,
    }));
  return (
    <div className={s.charts} data-testid="charts">
      <figure className={s.chart}>
        <figcaption>Teams, findings and actions per day</figcaption>
        <LineChart data={{ chartTitle: "Teams, findings and actions per day", lineChartData: lines }} height={260} />
      </figure>
      {bars.length > 0 && (
        <figure className={s.chart}>
          <figcaption>Graph requests per sweep (red: over 90% of the budget)</figcaption>
          <VerticalBarChart data={bars} chartTitle="Graph requests per sweep" height={260} hideLegend />
        </figure>
      )}
    </div>
  );
}
