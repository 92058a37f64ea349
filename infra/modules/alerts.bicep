// Alert rules, an optional action group and a workbook over the mail worker's log lines.
//
// Signal: the Application Insights `traces` table, i.e. what the functions write with context.log/warn/error today
// ("Sent message <id> …", "Deferred message <id> for <n> s [<category>] …", "Permanent failure: message <id>
// [<category>] …", "Accepted message <id>", "Will retry (attempt <n> of <max>) …") plus the Functions host's
// "Moving message to queue '<queue>-poison'". The queries match the message text only: with host.json telemetryMode
// OpenTelemetry the worker's lines reach `traces` with body and severity but no operation_Name. They live in
// queries/*.kql; each rule prepends `let` statements for its parameters. infra/tools/static-check.mjs fails when a line
// these queries match disappears from src/. The app's OpenTelemetry metrics (mail.sent, mail.failed, mail.queue.age)
// could carry the failure rules too; a stopped worker, though, emits no metric, while its accepted lines stay visible.
//
// Why logs and not storage metrics for the poison queue and queue age: Azure Storage's QueueMessageCount is an
// account-level capacity metric with no queue dimension, published hourly, and there is no message-age metric, so no
// platform metric can see the length of `<queue>-poison` or the age of a waiting message.
//
// Every rule counts the rows its query returns and fires above zero: the query itself encodes the condition, so
// pasting it into Logs shows exactly why an alert fired.

@description('Azure region of the rules and the workbook (the Application Insights region).')
param location string

@description('Tags applied to every resource.')
param tags object

@description('Suffix of the resource names (the deployment\'s resource token).')
param nameSuffix string

@description('Application Insights component the rules query and the workbook reads.')
param applicationInsightsName string

@description('Outbox queue (MAIL_QUEUE_NAME); the host moves failed messages to <name>-poison.')
@minLength(3)
@maxLength(56)
param queueName string

@description('E-mail addresses the action group notifies. Empty: no action group; alerts still fire and show under Azure Monitor > Alerts.')
param emailReceivers array

@description('Failure rate alert: percentage of finished messages (sent + failed for good) that failed in the last hour.')
@minValue(1)
@maxValue(100)
param failureRatePercent int

@description('Queue age alert: minutes a message may wait past the time it was due (accepted, or its deferral ended) without the worker taking it up. 0: no queue age rule. 1 to 9 count as 10, since log ingestion alone can take minutes.')
@minValue(0)
@maxValue(1440)
param queueAgeMinutes int

resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {
  name: applicationInsightsName
}

// The failure rate rule needs this many finished messages in its hour before a rate means anything.
var failureRateMinimumMessages = 5
// DeliveryPolicy.claimMs (5 min) plus a minute: a message another worker is sending is due again after its claim.
var claimMinutes = 6
var queueAgeThresholdMinutes = queueAgeMinutes == 0 ? 0 : max(queueAgeMinutes, 10)

var outcomes = 'let MailOutcomes = ${loadTextContent('queries/mail-outcomes.kql')}\n;\n'
var poisonQuery = 'let poisonQueue = \'${queueName}-poison\';\n${loadTextContent('queries/poison-moves.kql')}'
var authenticationQuery = '${outcomes}${loadTextContent('queries/authentication-failures.kql')}'
var failureRateQuery = 'let thresholdPercent = ${failureRatePercent};\nlet minimumMessages = ${failureRateMinimumMessages};\n${outcomes}${loadTextContent('queries/failure-rate.kql')}'
var queueAgeQuery = 'let thresholdMinutes = ${queueAgeThresholdMinutes};\nlet claimMinutes = ${claimMinutes};\n${loadTextContent('queries/queue-age.kql')}'

var actions = {
  actionGroups: empty(emailReceivers) ? [] : [actionGroup.id]
}

resource actionGroup 'Microsoft.Insights/actionGroups@2023-01-01' = if (!empty(emailReceivers)) {
  name: 'ag-mail-${nameSuffix}'
  location: 'global'
  tags: tags
  properties: {
    groupShortName: 'mail-alerts'
    enabled: true
    emailReceivers: [
      for (address, i) in emailReceivers: {
        name: 'email-${i}'
        emailAddress: address
        useCommonAlertSchema: true
      }
    ]
  }
}

// Stateless on purpose: no signal can tell when someone has emptied the poison queue, so the alert stays open until
// a person closes it. Actions are muted for the window, so one move notifies once although three runs see it.
resource poisonRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-mail-poison-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Mail: message moved to the poison queue'
    description: 'A message reached the poison queue ${queueName}-poison after the worker failed on it maxDequeueCount times (storage or an unexpected error, or a message the host could not decode). Its status record says failed/poisoned. Fix the cause; to send such a message after all, delete its status record (table row of its id) and put it back on ${queueName} unchanged: with the failed record in place the worker does not send it again. Then close this alert (it does not resolve by itself).'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: poisonQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: false
    muteActionsDuration: 'PT15M'
    actions: actions
  }
}

resource authenticationRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-mail-auth-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Mail: authentication or authorisation failures'
    description: 'Messages failed for good because Exchange Online or Entra ID refused the sender (category in the alert dimensions: authentication-failed = 535 5.7.3, smtp-auth-disabled = 5.7.139, send-as-denied, not-authenticated, mailbox-logon-failure, token-*). Every message will fail until the setup is fixed: see README "Troubleshooting" for the category, rerun infra/exchange/Register-ExchangeSender.ps1 -WhatIf (in the tenant of the sender profiles the results list), then re-send the failed messages.'
    severity: 1
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT15M'
    criteria: {
      allOf: [
        {
          query: authenticationQuery
          timeAggregation: 'Count'
          dimensions: [
            {
              name: 'Category'
              operator: 'Include'
              values: [
                '*'
              ]
            }
          ]
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

resource failureRateRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = {
  name: 'alert-mail-failure-rate-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Mail: failure rate above ${failureRatePercent}%'
    description: 'At least ${failureRatePercent}% of the messages finished in the last hour failed for good (at least ${failureRateMinimumMessages} finished). Open the "Mail delivery" workbook to see the categories, then README "Troubleshooting".'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT15M'
    windowSize: 'PT1H'
    criteria: {
      allOf: [
        {
          query: failureRateQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// Looks back two days (the query range's maximum, and DeliveryPolicy.maxAgeMs) to see when each message was due.
resource queueAgeRule 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = if (queueAgeMinutes > 0) {
  name: 'alert-mail-queue-age-${nameSuffix}'
  location: location
  tags: tags
  kind: 'LogAlert'
  properties: {
    displayName: 'Mail: messages waiting over ${queueAgeThresholdMinutes} min'
    description: 'Messages were due (accepted, or their deferral ended) more than ${queueAgeThresholdMinutes} minutes ago and the worker has not taken them up: the worker is down, failing before it logs, or far behind. Check the processOutbox function (Function App > Functions, failures and host logs), the queue ${queueName}, and the app identity\'s storage roles. A message scheduled with sendAt later than the threshold also shows here, because the intake log line does not carry sendAt.'
    severity: 2
    enabled: true
    scopes: [
      appInsights.id
    ]
    evaluationFrequency: 'PT5M'
    windowSize: 'PT5M'
    overrideQueryTimeRange: 'P2D'
    criteria: {
      allOf: [
        {
          query: queueAgeQuery
          timeAggregation: 'Count'
          operator: 'GreaterThan'
          threshold: 0
          failingPeriods: {
            numberOfEvaluationPeriods: 1
            minFailingPeriodsToAlert: 1
          }
        }
      ]
    }
    autoMitigate: true
    actions: actions
  }
}

// ---- workbook ----------------------------------------------------------------------------------------------------

var component = 'microsoft.insights/components'

var headerItems = [
  {
    type: 1
    name: 'intro'
    content: {
      json: '## Mail delivery\nOutcomes of the processOutbox function from its log lines (Application Insights `traces`): **sent**, **failed** (for good) and **deferred** (tried again later), by category. Categories are explained in the README, "Troubleshooting".'
    }
  }
  {
    type: 9
    name: 'parameters'
    content: {
      version: 'KqlParameterItem/1.0'
      parameters: [
        {
          id: '6f0c2a58-2f7e-4d2b-9a51-0c6f3c1f7a10'
          version: 'KqlParameterItem/1.0'
          name: 'TimeRange'
          label: 'Time range'
          type: 4
          isRequired: true
          value: {
            durationMs: 86400000
          }
          typeSettings: {
            allowCustom: true
            selectableValues: [
              { durationMs: 3600000 }
              { durationMs: 14400000 }
              { durationMs: 86400000 }
              { durationMs: 172800000 }
              { durationMs: 604800000 }
              { durationMs: 2592000000 }
            ]
          }
        }
      ]
      style: 'pills'
      queryType: 0
      resourceType: component
    }
  }
]

var chartItems = [
  {
    type: 3
    name: 'outcomes'
    content: {
      version: 'KqlItem/1.0'
      title: 'Sent, failed and deferred'
      query: '${outcomes}MailOutcomes\n| summarize Messages = sum(itemCount) by Outcome, bin(timestamp, {TimeRange:grain})'
      size: 0
      queryType: 0
      resourceType: component
      timeContextFromParameter: 'TimeRange'
      visualization: 'timechart'
    }
  }
  {
    type: 3
    name: 'failed-by-category'
    content: {
      version: 'KqlItem/1.0'
      title: 'Failed, by category'
      query: '${outcomes}MailOutcomes\n| where Outcome == \'failed\'\n| summarize Messages = sum(itemCount) by Category, bin(timestamp, {TimeRange:grain})'
      size: 0
      queryType: 0
      resourceType: component
      timeContextFromParameter: 'TimeRange'
      visualization: 'timechart'
    }
  }
  {
    type: 3
    name: 'deferred-by-category'
    content: {
      version: 'KqlItem/1.0'
      title: 'Deferred, by category'
      query: '${outcomes}MailOutcomes\n| where Outcome == \'deferred\'\n| summarize Messages = sum(itemCount) by Category, bin(timestamp, {TimeRange:grain})'
      size: 0
      queryType: 0
      resourceType: component
      timeContextFromParameter: 'TimeRange'
      visualization: 'timechart'
    }
  }
]

// The overdue table shows what the queue age rule would count, also when the rule is off.
var overdueMinutes = max(queueAgeThresholdMinutes, 10)

var tableItems = [
  {
    type: 3
    name: 'totals'
    content: {
      version: 'KqlItem/1.0'
      title: 'Totals by outcome, category and sender profile'
      query: '${outcomes}MailOutcomes\n| summarize Messages = sum(itemCount), LastSeen = max(timestamp) by Outcome, Category, Profile\n| order by Outcome asc, Messages desc'
      size: 0
      queryType: 0
      resourceType: component
      timeContextFromParameter: 'TimeRange'
      visualization: 'table'
    }
  }
  {
    type: 3
    name: 'poison'
    content: {
      version: 'KqlItem/1.0'
      title: 'Moves to ${queueName}-poison'
      query: '${poisonQuery}\n| summarize Lines = count() by Source'
      size: 0
      queryType: 0
      resourceType: component
      timeContextFromParameter: 'TimeRange'
      visualization: 'table'
    }
  }
  {
    type: 3
    name: 'overdue'
    content: {
      version: 'KqlItem/1.0'
      title: 'Messages overdue now (due over ${overdueMinutes} min ago; last 48 h)'
      query: 'let thresholdMinutes = ${overdueMinutes};\nlet claimMinutes = ${claimMinutes};\n${loadTextContent('queries/queue-age.kql')}\n| order by OverdueMinutes desc'
      size: 0
      queryType: 0
      resourceType: component
      timeContext: {
        durationMs: 172800000
      }
      visualization: 'table'
    }
  }
]

var workbookContent = {
  version: 'Notebook/1.0'
  items: concat(headerItems, chartItems, tableItems)
  isLocked: false
  fallbackResourceIds: [
    appInsights.id
  ]
}

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, 'exo-smtp-mailer', 'mail-delivery-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Mail delivery (${nameSuffix})'
    category: 'workbook'
    sourceId: toLower(appInsights.id)
    version: 'Notebook/1.0'
    serializedData: string(workbookContent)
  }
}

output actionGroupName string = empty(emailReceivers) ? '' : actionGroup.name
output workbookName string = workbook.name
