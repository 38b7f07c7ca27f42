import {
  Anchor,
  Button,
  Checkbox,
  Group,
  Radio,
  ScrollArea,
  Stack,
  Text,
  Textarea,
  TextInput,
} from "@mantine/core";
import { Dialog } from "../../components/dialog";
import { schemaResolver, useForm } from "@mantine/form";
import { useMemo, useState } from "react";
import { useTranslation } from "react-i18next";
import { z } from "../../lib/zod";
import type { Scope, TokenWithSecret } from "../../api/types";
import { ErrorAlert } from "../../components/error-alert";
import { PageLoader } from "../../components/loading";
import { applyServerFieldErrors } from "../../lib/forms";
import { can, grantableScopes } from "../../lib/permissions";
import { useScopes } from "../orgs/api";
import { useCurrentOrg } from "../orgs/org-context";
import { useCreateToken } from "./api";
import { type ExpiryChoice, expiryPolicy, expiryRequest } from "./expiry";
import { ExpiryField } from "./expiry-field";
import { emptyLimits, LimitsFields, limitsPayload } from "./limits-fields";
import { SecretReveal } from "./secret-reveal";

interface Props {
  opened: boolean;
  onClose: () => void;
}

/** "Create token": the form, then the secret shown once. */
export function CreateTokenDialog({ opened, onClose }: Props) {
  const { t } = useTranslation();
  const { org, role } = useCurrentOrg();
  const scopes = useScopes(org.id, opened);
  const [created, setCreated] = useState<TokenWithSecret | null>(null);
  const [askingToClose, setAskingToClose] = useState(false);

  // The secret is dropped once the dialog has finished closing (not before, or the form would flash back).
  const close = () => onClose();

  return (
    <Dialog
      opened={opened}
      onClose={created ? () => setAskingToClose(true) : close}
      title={created ? t("secret.createdTitle") : t("tokens.create.title")}
      size="lg"
      closeOnClickOutside={!created}
      onExitTransitionEnd={() => {
        setCreated(null);
        setAskingToClose(false);
      }}
    >
      {created ? (
        <SecretReveal
          token={created.token}
          secret={created.secret}
          onDone={close}
          askingToClose={askingToClose}
          onKeepOpen={() => setAskingToClose(false)}
        />
      ) : scopes.isPending ? (
        <PageLoader />
      ) : scopes.isError ? (
        <ErrorAlert error={scopes.error} />
      ) : (
        <CreateTokenForm
          catalogue={grantableScopes(role, scopes.data)}
          chooseKind={can.chooseKind(role)}
          onCancel={close}
          onCreated={setCreated}
          settings={org.settings}
          orgId={org.id}
        />
      )}
    </Dialog>
  );
}

interface FormProps {
  orgId: string;
  catalogue: Scope[];
  chooseKind: boolean;
  settings: ReturnType<typeof useCurrentOrg>["org"]["settings"];
  onCancel: () => void;
  onCreated: (result: TokenWithSecret) => void;
}

function CreateTokenForm({ orgId, catalogue, chooseKind, settings, onCancel, onCreated }: FormProps) {
  const { t } = useTranslation();
  const create = useCreateToken(orgId);
  const policy = useMemo(() => expiryPolicy(settings), [settings]);

  const schema = z
    .object({
      name: z.string().trim().min(1, t("validation.required")).max(100, t("validation.maxLength", { count: 100 })),
      description: z.string().max(500, t("validation.maxLength", { count: 500 })),
      kind: z.enum(["personal", "service"]),
      issuedFor: z.string().max(200, t("validation.maxLength", { count: 200 })),
      scopes: z.array(z.string()).min(1, t("tokens.create.scopesRequired")),
      expiry: z.string(),
      customDate: z.string().nullable(),
      environment: z.enum(["live", "test"]),
    })
    .refine((v) => v.expiry !== "custom" || Boolean(v.customDate), {
      path: ["customDate"],
      message: t("tokens.create.dateRequired"),
    })
    .refine((v) => v.kind !== "service" || v.issuedFor.trim().length > 0, {
      path: ["issuedFor"],
      message: t("tokens.create.issuedForRequired"),
    });

  const form = useForm({
    initialValues: {
      name: "",
      description: "",
      kind: "personal" as "personal" | "service",
      issuedFor: "",
      scopes: catalogue.map((s) => s.name),
      expiry: policy.initial as string,
      customDate: null as string | null,
      environment: "live" as "live" | "test",
      limits: emptyLimits(),
    },
    validate: schemaResolver(schema, { sync: true }),
  });

  const submit = form.onSubmit(async (values) => {
    const limits = limitsPayload(values.limits, t);
    if (!limits.ok) return form.setFieldError("limits", limits.error);
    try {
      const result = await create.mutateAsync({
        name: values.name.trim(),
        ...(values.description.trim() ? { description: values.description.trim() } : {}),
        ...(chooseKind ? { kind: values.kind } : {}),
        ...(chooseKind && values.issuedFor.trim() ? { issuedFor: values.issuedFor.trim() } : {}),
        scopes: values.scopes,
        environment: values.environment,
        ...expiryRequest(values.expiry as ExpiryChoice, values.customDate, policy.maxDate),
        ...(limits.rateLimits.length > 0 ? { rateLimits: limits.rateLimits } : {}),
        ...(limits.credits ? { credits: limits.credits } : {}),
      });
      create.reset();
      onCreated(result);
    } catch (error) {
      applyServerFieldErrors(form, error, { expiresAt: "expiry", expiresInDays: "expiry" });
    }
  });

  const management = catalogue.filter((s) => s.kind === "management");
  const product = catalogue.filter((s) => s.kind === "product");
  const allSelected = form.values.scopes.length === catalogue.length;

  return (
    <form onSubmit={submit} noValidate>
      <Stack>
        <ErrorAlert error={create.error} title={t("tokens.create.failed")} />
        <TextInput
          label={t("tokens.fields.name")}
          description={t("tokens.create.nameHint")}
          required
          data-autofocus
          // The form replaces a loader after the dialog opened (and its focus trap focused the close
          // button), so the name field takes the focus itself when it appears.
          autoFocus
          {...form.getInputProps("name")}
        />
        <Textarea
          label={t("tokens.fields.description")}
          autosize
          minRows={2}
          maxRows={4}
          {...form.getInputProps("description")}
        />
        {chooseKind && (
          <Group grow align="flex-start">
            <Radio.Group label={t("tokens.fields.kind")} {...form.getInputProps("kind")}>
              <Stack mt="xs" gap="xs">
                <Radio value="personal" label={t("kind.personal")} description={t("tokens.create.personalHint")} />
                <Radio value="service" label={t("kind.service")} description={t("tokens.create.serviceHint")} />
              </Stack>
            </Radio.Group>
            <TextInput
              label={t("tokens.fields.issuedFor")}
              description={t("tokens.create.issuedForHint")}
              required={form.values.kind === "service"}
              {...form.getInputProps("issuedFor")}
            />
          </Group>
        )}
        <Checkbox.Group
          label={t("tokens.fields.scopes")}
          description={t("tokens.create.scopesHint")}
          {...form.getInputProps("scopes")}
        >
          <Group gap="xs" mt={4}>
            <Anchor
              component="button"
              type="button"
              size="sm"
              onClick={() => form.setFieldValue("scopes", allSelected ? [] : catalogue.map((s) => s.name))}
            >
              {allSelected ? t("tokens.create.selectNone") : t("tokens.create.selectAll")}
            </Anchor>
            <Text size="sm" c="dimmed">
              {t("tokens.create.selectedCount", { count: form.values.scopes.length, total: catalogue.length })}
            </Text>
          </Group>
          <ScrollArea.Autosize mah={220} mt="xs" type="auto" offsetScrollbars>
            <Stack gap={6}>
              {[
                { title: t("scopes.product"), items: product },
                { title: t("scopes.management"), items: management },
              ]
                .filter((g) => g.items.length > 0)
                .map((group) => (
                  <Stack key={group.title} gap={6}>
                    <Text size="xs" fw={700} c="dimmed" tt="uppercase">
                      {group.title}
                    </Text>
                    {group.items.map((scope) => (
                      <Checkbox
                        key={scope.name}
                        value={scope.name}
                        label={<span className="mono">{scope.name}</span>}
                        description={scope.description || undefined}
                      />
                    ))}
                  </Stack>
                ))}
            </Stack>
          </ScrollArea.Autosize>
        </Checkbox.Group>
        <ExpiryField
          policy={policy}
          choice={form.values.expiry as ExpiryChoice}
          onChoiceChange={(choice) => form.setFieldValue("expiry", choice)}
          customDate={form.values.customDate}
          onCustomDateChange={(value) => form.setFieldValue("customDate", value)}
          error={typeof form.errors.expiry === "string" ? form.errors.expiry : undefined}
          customDateError={typeof form.errors.customDate === "string" ? form.errors.customDate : undefined}
        />
        <LimitsFields
          value={form.values.limits}
          onChange={(v) => form.setFieldValue("limits", v)}
          error={typeof form.errors.limits === "string" ? form.errors.limits : undefined}
        />
        <Radio.Group label={t("tokens.fields.environment")} {...form.getInputProps("environment")}>
          <Group mt="xs">
            <Radio value="live" label={t("environment.live")} />
            <Radio value="test" label={t("environment.test")} />
          </Group>
        </Radio.Group>
        <Group justify="flex-end" mt="sm">
          <Button variant="default" onClick={onCancel}>
            {t("common.cancel")}
          </Button>
          <Button type="submit" loading={create.isPending}>
            {t("tokens.create.submit")}
          </Button>
        </Group>
      </Stack>
    </form>
  );
}
