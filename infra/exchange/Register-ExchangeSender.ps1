#Requires -Version 7.0
<#
.SYNOPSIS
Authorises the mail Function App's sending principal in Exchange Online and enables SMTP AUTH on its mailboxes.

.DESCRIPTION
Bicep can create the Entra objects but nothing inside Exchange Online. This script does the Exchange side, idempotently:

  1. Registers the Entra service principal in Exchange (New-ServicePrincipal), unless it already is.
     An existing registration that points at a different object id is reported as an error: that mistake (the app
     registration's object id instead of the enterprise application's) is a common cause of "535 5.7.3".
  2. Grants sending rights, depending on -Mode:
       RbacForApplications  a management scope (New-ManagementScope) holding exactly the given mailboxes (or the
                            members of -ScopeGroup) and New-ManagementRoleAssignment -Role "Application SMTP.SendAsApp"
                            -App <service principal> -CustomResourceScope <scope>. No mailbox permission and no Entra
                            API permission: Microsoft's SMTP onboarding to App RBAC says not to add SMTP.SendAsApp to the
                            app, since that claim makes Exchange check mailbox permissions. Matches the Bicep default
                            exchangeAuthorization=rbacForApplications, which makes no Entra grant.
       MailboxPermission    the classic way: Add-MailboxPermission -AccessRights FullAccess on each mailbox (plus
                            Add-RecipientPermission SendAs with -GrantSendAs), the trustee being the Identity that
                            Get-ServicePrincipal reports, as in Microsoft's example. Needs the Entra permission
                            SMTP.SendAsApp with admin consent (deploy with exchangeAuthorization=mailboxPermission).
  2b. With -ReadDeliveryReports: Add-MailboxPermission -AccessRights FullAccess on each mailbox for the service
     principal (IMAP with IMAP.AccessAsApp), in either mode.
  3. Enables SMTP AUTH per mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false); without it even OAuth
     fails with "535 5.7.139". Skip with -SkipSmtpAuth when the tenant-wide setting is managed elsewhere.
     Not enough in a tenant with Microsoft Entra security defaults on, which new Microsoft 365 tenants have: security
     defaults disable SMTP AUTH for the whole tenant, above the mailbox setting, and Exchange keeps answering
     "535 5.7.139". Microsoft's "Enable or disable SMTP AUTH in Exchange Online" says to turn security defaults off to
     use SMTP AUTH (Entra admin center > Overview > Properties > Manage security defaults; a Global Administrator or
     Conditional Access Administrator) and to protect sign-ins with Conditional Access instead. This script cannot
     see or change security defaults (they are an Entra setting, not an Exchange one); it says so at the end.

Every step first reads the current state (Get-ServicePrincipal, Get-ManagementScope, Get-ManagementRoleAssignment,
Get-MailboxPermission, Get-RecipientPermission, Get-CASMailbox) and prints EXISTS, CREATED / CHANGED, or with -WhatIf
WOULD CREATE / WOULD CHANGE. A summary table closes the run.

Requires PowerShell 7 and the ExchangeOnlineManagement module; run as an Exchange administrator (Organization
Management for the RBAC assignment). If not connected yet, the script runs Connect-ExchangeOnline.

.PARAMETER AppId
Application (client) id of the sender. App registration modes: the app registration's appId (azd output
EXO_SENDER_APP_ID). managedIdentity mode: the user-assigned identity's client id.

.PARAMETER ServicePrincipalObjectId
Object id of the sender's SERVICE PRINCIPAL, i.e. the "Enterprise application" (Entra admin center > Enterprise
applications > the app > Object ID), azd output EXO_SENDER_OBJECT_ID. NOT the object id shown on the "App
registrations" page, which belongs to the application object. For a managed identity: its principal id.

.PARAMETER Mailbox
Mailboxes the app may send as (the addresses it uses in MAIL FROM / From, i.e. MAIL_ALLOWED_SENDERS).

.PARAMETER Mode
RbacForApplications (default, as the Bicep default exchangeAuthorization=rbacForApplications) or MailboxPermission
(exchangeAuthorization=mailboxPermission); see the description. The azd postprovision hook prints the value that
matches the deployment.

.PARAMETER DisplayName
Display name of the Exchange service principal object created by New-ServicePrincipal.

.PARAMETER ScopeName
Name of the management scope (RbacForApplications). Default: "exo-smtp-mailer senders <AppId>".

.PARAMETER ScopeGroup
RbacForApplications: scope the assignment to the members of this group (name, address or distinguished name)
instead of the listed mailboxes. The -Mailbox list is still used for SMTP AUTH and the final check.

.PARAMETER GrantSendAs
MailboxPermission mode: also grant SendAs (Add-RecipientPermission), needed when the app sends as an address other
than the mailbox it authenticates as.

.PARAMETER ReadDeliveryReports
The app reads delivery reports from these mailboxes over IMAP (MAIL_REPORTS_MAILBOXES): also grant the service
principal FullAccess on each mailbox (Add-MailboxPermission), as Microsoft's IMAP app-only setup requires in either
mode. The Entra permission IMAP.AccessAsApp comes from the deployment (readDeliveryReports=true).

.PARAMETER SkipSmtpAuth
Do not touch the per-mailbox SMTP AUTH setting.

.PARAMETER TenantId
The tenant (id) whose Exchange Online this run must change: the script stops, before changing anything, unless the
Exchange Online connection is to this tenant. With sender profiles the sending mailboxes live in several tenants and the
script runs once in each (for a multi-tenant app registration, against its service principal in that tenant); the
postprovision hook prints the command for each, with this parameter. Needs ExchangeOnlineManagement 3.0 or later.

.EXAMPLE
./Register-ExchangeSender.ps1 -AppId 11111111-2222-3333-4444-555555555555 -ServicePrincipalObjectId 66666666-7777-8888-9999-000000000000 -Mailbox noreply@contoso.com -WhatIf

Shows what would be created for RBAC for Applications, changing nothing.

.EXAMPLE
./Register-ExchangeSender.ps1 -AppId <appId> -ServicePrincipalObjectId <spObjectId> -Mailbox noreply@contoso.com,alerts@contoso.com -Mode MailboxPermission -GrantSendAs

.EXAMPLE
Connect-ExchangeOnline -UserPrincipalName admin@fabrikam.onmicrosoft.com
./Register-ExchangeSender.ps1 -TenantId <fabrikam tenant id> -AppId <multi-tenant appId> -ServicePrincipalObjectId <its service principal's object id in fabrikam> -Mailbox noreply@fabrikam.com -WhatIf

A customer tenant of a multi-tenant app registration: the object id is that of the service principal the admin consent
created in fabrikam's tenant, not the one in the home tenant.
#>
[CmdletBinding(SupportsShouldProcess)]
param(
    [Parameter(Mandatory)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $AppId,

    [Parameter(Mandatory)]
    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $ServicePrincipalObjectId,

    [Parameter(Mandatory)]
    [ValidateNotNullOrEmpty()]
    [string[]] $Mailbox,

    [ValidateSet('RbacForApplications', 'MailboxPermission')]
    [string] $Mode = 'RbacForApplications',

    [ValidateNotNullOrEmpty()]
    [string] $DisplayName = 'exo-smtp-mailer',

    [string] $ScopeName,

    [string] $ScopeGroup,

    [switch] $GrantSendAs,

    [switch] $SkipSmtpAuth,

    [switch] $ReadDeliveryReports,

    [ValidatePattern('^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$')]
    [string] $TenantId
)

Set-StrictMode -Version Latest
$ErrorActionPreference = 'Stop'

$RoleName = 'Application SMTP.SendAsApp'
if (-not $ScopeName) { $ScopeName = "exo-smtp-mailer senders $AppId" }
# Deterministic name, so a rerun finds the assignment it made (the limit is 64 characters).
$AssignmentName = "SMTP.SendAsApp $AppId"
$Mailbox = @($Mailbox | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })

$Summary = [System.Collections.Generic.List[object]]::new()

function Write-Step {
    param(
        [Parameter(Mandatory)] [string] $Status,
        [Parameter(Mandatory)] [string] $Target,
        [Parameter(Mandatory)] [string] $Detail
    )
    $Summary.Add([pscustomobject]@{ Status = $Status; Target = $Target; Detail = $Detail })
    $colour = switch -Wildcard ($Status) {
        'EXISTS' { 'Gray' }
        'WOULD*' { 'Yellow' }
        'ERROR' { 'Red' }
        default { 'Green' }
    }
    Write-Host ('[{0,-12}] {1}: {2}' -f $Status, $Target, $Detail) -ForegroundColor $colour
}

# Exchange objects differ between module versions; under StrictMode read properties defensively.
function Get-Value {
    param($Object, [Parameter(Mandatory)] [string] $Name)
    if ($null -eq $Object) { return $null }
    $property = $Object.PSObject.Properties[$Name]
    if ($property) { return $property.Value }
    return $null
}

# Exchange Online cmdlets throw when an object does not exist; turn exactly that case into $null.
function Get-OrNull {
    param([Parameter(Mandatory)] [scriptblock] $Query)
    try {
        & $Query
    }
    catch {
        if ($_.Exception.Message -match "couldn't be found|could not be found|wasn't found|was not found|doesn't exist|does not exist") {
            return $null
        }
        throw
    }
}

# A recipient filter reduced to its clauses: lower case, no parentheses, one quote style, single spaces, the -or
# clauses sorted. The filters this script writes are -or lists of equality clauses (or one MemberOfGroup clause), so
# two filters with the same key select the same recipients.
function ConvertTo-FilterKey {
    param([string] $Filter)
    $text = ($Filter -replace '[()]', ' ' -replace '"', "'" -replace '\s+', ' ').Trim().ToLowerInvariant()
    return (@($text -split ' -or ' | ForEach-Object { $_.Trim() } | Where-Object { $_ } | Sort-Object -Unique) -join ' -or ')
}

# ---- connection -------------------------------------------------------------------------------------------------
if (-not (Get-Command -Name Get-CASMailbox -ErrorAction SilentlyContinue)) {
    if (-not (Get-Module -ListAvailable -Name ExchangeOnlineManagement)) {
        throw 'The ExchangeOnlineManagement module is not installed: Install-Module ExchangeOnlineManagement -Scope CurrentUser'
    }
    Import-Module ExchangeOnlineManagement
    Write-Host 'Connecting to Exchange Online...'
    Connect-ExchangeOnline -ShowBanner:$false
}

# Exchange cmdlets act on the tenant of the connection; with mailboxes in several tenants, a run in the wrong one would
# authorise the wrong service principal or find no mailbox. Checked before anything is read or changed.
if ($TenantId) {
    if (-not (Get-Command -Name Get-ConnectionInformation -ErrorAction SilentlyContinue)) {
        throw '-TenantId needs the ExchangeOnlineManagement module 3.0 or later (Get-ConnectionInformation): Update-Module ExchangeOnlineManagement'
    }
    $connected = @(Get-ConnectionInformation | Where-Object {
            [string](Get-Value $_ 'State') -eq 'Connected' -and -not (Get-Value $_ 'IsEopSession') -and -not (Get-Value $_ 'ModulePrefix')
        } | ForEach-Object { [string](Get-Value $_ 'TenantID') } | Sort-Object -Unique)
    if ($connected.Count -ne 1 -or $connected[0] -ne $TenantId) {
        throw "Connected to Exchange Online of tenant '$($connected -join "', '")', but -TenantId is $TenantId. Run Disconnect-ExchangeOnline -Confirm:`$false, connect as an administrator of $TenantId (Connect-ExchangeOnline -UserPrincipalName <admin of that tenant>, or as a CSP partner -DelegatedOrganization $TenantId) and rerun. Nothing was changed."
    }
    Write-Host "Exchange Online of tenant $TenantId"
}

# ---- 1. Exchange service principal --------------------------------------------------------------------------------
$sp = @(Get-ServicePrincipal | Where-Object { [string](Get-Value $_ 'AppId') -eq $AppId }) | Select-Object -First 1
if ($sp) {
    $registeredObjectId = [string](Get-Value $sp 'ObjectId')
    if ($registeredObjectId -ne $ServicePrincipalObjectId) {
        Write-Step 'ERROR' 'ServicePrincipal' "AppId $AppId is registered with ObjectId $registeredObjectId, not $ServicePrincipalObjectId. Exchange must point at the ENTERPRISE APPLICATION (service principal) object id; fix with Remove-ServicePrincipal -Identity $registeredObjectId and rerun."
        $Summary | Format-Table -AutoSize
        throw 'The Exchange service principal points at a different object id; nothing else was changed.'
    }
    Write-Step 'EXISTS' 'ServicePrincipal' "$(Get-Value $sp 'DisplayName') (AppId $AppId, ObjectId $ServicePrincipalObjectId)"
}
elseif ($PSCmdlet.ShouldProcess("AppId $AppId / ObjectId $ServicePrincipalObjectId", 'New-ServicePrincipal')) {
    $sp = New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipalObjectId -DisplayName $DisplayName
    Write-Step 'CREATED' 'ServicePrincipal' "$DisplayName (AppId $AppId, ObjectId $ServicePrincipalObjectId)"
}
else {
    Write-Step 'WOULD CREATE' 'ServicePrincipal' "New-ServicePrincipal -AppId $AppId -ObjectId $ServicePrincipalObjectId -DisplayName '$DisplayName'"
}

# The trustee for mailbox and recipient permissions: the Identity Get-ServicePrincipal reports, as Microsoft's
# example passes it to Add-MailboxPermission -User. Unknown only under -WhatIf before the principal exists.
$trustee = if ($sp -and (Get-Value $sp 'Identity')) { [string](Get-Value $sp 'Identity') } else { $null }
$trusteeShown = if ($trustee) { $trustee } else { '<Identity of the new Exchange service principal>' }

# Every way the service principal may appear as a trustee in permission listings.
$trusteeNames = @($ServicePrincipalObjectId, $AppId, $DisplayName)
if ($sp) { $trusteeNames += @([string](Get-Value $sp 'DisplayName'), [string](Get-Value $sp 'Identity')) }
$trusteeNames = @($trusteeNames | Where-Object { $_ })

# FullAccess on a mailbox for the service principal, unless it has it already: the classic sending right, and the
# mailbox access IMAP app-only tokens need.
function Grant-FullAccess {
    # The script's own $PSCmdlet, passed in: -WhatIf and -Confirm are the script's.
    param($Cmdlet, [string] $Mbx)
    $fullAccess = @(Get-MailboxPermission -Identity $Mbx | Where-Object {
            $trusteeNames -contains [string](Get-Value $_ 'User') -and ((Get-Value $_ 'AccessRights') -join ',') -match 'FullAccess' -and -not (Get-Value $_ 'Deny')
        })
    if ($fullAccess.Count -gt 0) {
        Write-Step 'EXISTS' "FullAccess $Mbx" "granted to $(Get-Value $fullAccess[0] 'User')"
    }
    elseif ($trustee -and $Cmdlet.ShouldProcess($Mbx, "Add-MailboxPermission -User '$trustee' -AccessRights FullAccess")) {
        Add-MailboxPermission -Identity $Mbx -User $trustee -AccessRights FullAccess -AutoMapping:$false -Confirm:$false | Out-Null
        Write-Step 'CREATED' "FullAccess $Mbx" "granted to $trustee"
    }
    else {
        Write-Step 'WOULD CREATE' "FullAccess $Mbx" "Add-MailboxPermission -Identity $Mbx -User '$trusteeShown' -AccessRights FullAccess"
    }
}

# ---- 2. sending rights --------------------------------------------------------------------------------------------
if ($Mode -eq 'RbacForApplications') {
    if ($ScopeGroup) {
        $group = Get-Group -Identity $ScopeGroup
        $filter = "MemberOfGroup -eq '$(Get-Value $group 'DistinguishedName')'"
    }
    else {
        $filter = ($Mailbox | ForEach-Object { "PrimarySmtpAddress -eq '$_'" }) -join ' -or '
    }

    $scope = Get-OrNull { Get-ManagementScope -Identity $ScopeName }
    if ($scope) {
        $currentFilter = [string](Get-Value $scope 'RecipientFilter')
        # Exchange stores the filter rewritten (parentheses, quoting, case), so compare the clauses, not the text.
        if ((ConvertTo-FilterKey $currentFilter) -ne (ConvertTo-FilterKey $filter)) {
            if ($PSCmdlet.ShouldProcess($ScopeName, "Set-ManagementScope -RecipientRestrictionFilter `"$filter`"")) {
                Set-ManagementScope -Identity $ScopeName -RecipientRestrictionFilter $filter -Confirm:$false
                Write-Step 'CHANGED' 'ManagementScope' "$ScopeName filter was '$currentFilter', now '$filter'"
            }
            else {
                Write-Step 'WOULD CHANGE' 'ManagementScope' "$ScopeName filter '$currentFilter' -> '$filter'"
            }
        }
        else {
            Write-Step 'EXISTS' 'ManagementScope' "$ScopeName ($filter)"
        }
    }
    elseif ($PSCmdlet.ShouldProcess($ScopeName, "New-ManagementScope -RecipientRestrictionFilter `"$filter`"")) {
        New-ManagementScope -Name $ScopeName -RecipientRestrictionFilter $filter | Out-Null
        Write-Step 'CREATED' 'ManagementScope' "$ScopeName ($filter)"
    }
    else {
        Write-Step 'WOULD CREATE' 'ManagementScope' "New-ManagementScope -Name '$ScopeName' -RecipientRestrictionFilter `"$filter`""
    }

    $assignment = Get-OrNull { Get-ManagementRoleAssignment -Identity $AssignmentName }
    if (-not $assignment) {
        # Made by hand or by an older run under another name?
        $assignment = @(Get-ManagementRoleAssignment -Role $RoleName | Where-Object {
                $trusteeNames -contains [string](Get-Value $_ 'RoleAssigneeName') -and [string](Get-Value $_ 'CustomResourceScope') -eq $ScopeName
            }) | Select-Object -First 1
    }
    if ($assignment) {
        Write-Step 'EXISTS' 'RoleAssignment' "$(Get-Value $assignment 'Name'): $RoleName scoped to '$ScopeName'"
    }
    elseif ($PSCmdlet.ShouldProcess("$RoleName -> $ServicePrincipalObjectId", "New-ManagementRoleAssignment -CustomResourceScope '$ScopeName'")) {
        New-ManagementRoleAssignment -Name $AssignmentName -Role $RoleName -App $ServicePrincipalObjectId -CustomResourceScope $ScopeName | Out-Null
        Write-Step 'CREATED' 'RoleAssignment' "$AssignmentName`: $RoleName scoped to '$ScopeName'"
    }
    else {
        Write-Step 'WOULD CREATE' 'RoleAssignment' "New-ManagementRoleAssignment -Name '$AssignmentName' -Role '$RoleName' -App $ServicePrincipalObjectId -CustomResourceScope '$ScopeName'"
    }
}
else {
    foreach ($mbx in $Mailbox) {
        Grant-FullAccess $PSCmdlet $mbx

        if ($GrantSendAs) {
            $sendAs = @(Get-RecipientPermission -Identity $mbx | Where-Object {
                    $trusteeNames -contains [string](Get-Value $_ 'Trustee') -and ((Get-Value $_ 'AccessRights') -join ',') -match 'SendAs'
                })
            if ($sendAs.Count -gt 0) {
                Write-Step 'EXISTS' "SendAs $mbx" "granted to $(Get-Value $sendAs[0] 'Trustee')"
            }
            elseif ($trustee -and $PSCmdlet.ShouldProcess($mbx, "Add-RecipientPermission -Trustee '$trustee' -AccessRights SendAs")) {
                Add-RecipientPermission -Identity $mbx -Trustee $trustee -AccessRights SendAs -Confirm:$false | Out-Null
                Write-Step 'CREATED' "SendAs $mbx" "granted to $trustee"
            }
            else {
                Write-Step 'WOULD CREATE' "SendAs $mbx" "Add-RecipientPermission -Identity $mbx -Trustee '$trusteeShown' -AccessRights SendAs"
            }
        }
    }
}

# ---- 2b. reading delivery reports over IMAP -----------------------------------------------------------------------
# IMAP app-only access is the Entra permission IMAP.AccessAsApp (deploy with readDeliveryReports=true) plus FullAccess
# on each mailbox for the service principal registered in step 1; Microsoft documents no RBAC for Applications role
# for IMAP, so this holds in both modes (MailboxPermission has granted it above already).
if ($ReadDeliveryReports -and $Mode -ne 'MailboxPermission') {
    foreach ($mbx in $Mailbox) {
        Grant-FullAccess $PSCmdlet $mbx
    }
}

# ---- 3. SMTP AUTH per mailbox -------------------------------------------------------------------------------------
if (-not $SkipSmtpAuth) {
    foreach ($mbx in $Mailbox) {
        $cas = Get-CASMailbox -Identity $mbx
        $smtpAuthDisabled = Get-Value $cas 'SmtpClientAuthenticationDisabled'
        # $false: enabled for this mailbox. $null: follows the tenant (Get-TransportConfig SmtpClientAuthenticationDisabled).
        if ($smtpAuthDisabled -eq $false) {
            Write-Step 'EXISTS' "SMTP AUTH $mbx" 'enabled for the mailbox'
        }
        elseif ($PSCmdlet.ShouldProcess($mbx, 'Set-CASMailbox -SmtpClientAuthenticationDisabled $false')) {
            Set-CASMailbox -Identity $mbx -SmtpClientAuthenticationDisabled $false -Confirm:$false
            Write-Step 'CHANGED' "SMTP AUTH $mbx" "was '$smtpAuthDisabled', now enabled (False)"
        }
        else {
            Write-Step 'WOULD CHANGE' "SMTP AUTH $mbx" "SmtpClientAuthenticationDisabled '$smtpAuthDisabled' -> False"
        }
    }
}

# ---- check --------------------------------------------------------------------------------------------------------
if ($Mode -eq 'RbacForApplications' -and -not $WhatIfPreference -and $sp) {
    foreach ($mbx in $Mailbox) {
        $result = @(Test-ServicePrincipalAuthorization -Identity $ServicePrincipalObjectId -Resource $mbx |
                Where-Object { [string](Get-Value $_ 'RoleName') -eq $RoleName })
        $inScope = @($result | Where-Object { (Get-Value $_ 'InScope') -eq $true }).Count -gt 0
        Write-Step ($(if ($inScope) { 'CHECKED' } else { 'ERROR' })) "Authorization $mbx" "$RoleName in scope: $inScope"
    }
}

Write-Host ''
$Summary | Format-Table -AutoSize
Write-Host 'Changes to Exchange permissions can take up to an hour to apply to new SMTP sessions.'
if (-not $SkipSmtpAuth) {
    # Security defaults are an Entra setting that Exchange Online PowerShell cannot read: name the check instead.
    Write-Host ('If sending still fails with "535 5.7.139": Microsoft Entra security defaults (on in new Microsoft 365 tenants) ' +
        'disable SMTP AUTH for the whole tenant whatever Set-CASMailbox says. Turn them off in the Entra admin center ' +
        '(Overview > Properties > Manage security defaults) and protect sign-ins with Conditional Access instead.')
}
