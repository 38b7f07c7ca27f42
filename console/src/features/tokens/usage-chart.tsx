import { BarChart } from "@mantine/charts";
import { Group, SegmentedControl, Stack, Text, Title } from "@mantine/core";
import { useState } from "react";
import { useTranslation } from "react-i18next";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { useFormat } from "../../lib/format";
import { useTokenUsage } from "./api";

/** Successful vs refused verifications per hour (last 48 h) or per day (last 30 days). */
export function UsageChart({ orgId, tokenId }: { orgId: string; tokenId: string }) {
  const { t } = useTranslation();
  const format = useFormat();
  const [interval, setInterval] = useState<"hour" | "day">("day");
  const usage = useTokenUsage(orgId, tokenId, interval);
  const label = new Intl.DateTimeFormat(
    format.locale,
    interval === "hour" ? { day: "numeric", hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric" },
  );
  const data = (usage.data ?? []).map((b) => ({ bucket: label.format(new Date(b.start)), ok: b.ok, denied: b.denied }));
  const totals = (usage.data ?? []).reduce((acc, b) => ({ ok: acc.ok + b.ok, denied: acc.denied + b.denied }), { ok: 0, denied: 0 });

  return (
    <Stack gap="sm">
      <Group justify="space-between">
        <Title order={2} size="h4">
          {t("usage.title")}
        </Title>
        <SegmentedControl
          aria-label={t("usage.interval")}
          value={interval}
          onChange={(v) => setInterval(v === "hour" ? "hour" : "day")}
          data={[
            { value: "hour", label: t("usage.hourly") },
            { value: "day", label: t("usage.daily") },
          ]}
          size="xs"
        />
      </Group>
      <Text size="sm" c="dimmed">
        {t(interval === "hour" ? "usage.rangeHourly" : "usage.rangeDaily")} ·{" "}
        {t("usage.totals", { ok: format.number(totals.ok), denied: format.number(totals.denied) })}
      </Text>
      {usage.isPending ? (
        <PageLoader />
      ) : usage.isError ? (
        <ErrorAlert error={usage.error} />
      ) : (
        <div role="img" aria-label={t("usage.chartLabel", { ok: totals.ok, denied: totals.denied })}>
          <BarChart
            h={260}
            data={data}
            dataKey="bucket"
            type="stacked"
            withLegend
            series={[
              { name: "ok", label: t("usage.ok"), color: "teal.6" },
              { name: "denied", label: t("usage.denied"), color: "red.6" },
            ]}
            tickLine="y"
            xAxisProps={{ interval: "preserveStartEnd", minTickGap: 24 }}
            yAxisProps={{ allowDecimals: false }}
          />
        </div>
      )}
    </Stack>
  );
}
